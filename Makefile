# The two commands a newcomer needs: `make demo` runs a local fleet, `make test` runs every test.
.PHONY: demo demo-stop test deps build bench-supervisor

demo:
	bash scripts/demo.sh up

demo-stop:
	bash scripts/demo.sh down

test:
	bash scripts/test.sh

deps:
	bash scripts/deps.sh
