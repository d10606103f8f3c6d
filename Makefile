# The two commands a newcomer needs: `make demo` runs a local fleet, `make test` runs every test.
# Then: `make deps` installs what Skiff needs and compiles it, `make build` compiles, `make lint` checks lint and
# format (`make format` fixes what it can), `make bench-supervisor` (-api-poll, -bandwidth, -delta, -metered, -fleet-scale) runs one bench
# on the 'test' environment (README, Benchmarks).
.PHONY: demo demo-stop test deps build lint format bench-supervisor bench-api-poll bench-bandwidth bench-delta bench-metered bench-fleet-scale

demo:
	bash scripts/demo.sh up

demo-stop:
	bash scripts/demo.sh down

test:
	bash scripts/test.sh

deps:
	bash scripts/deps.sh

build:
	npm run build

lint:
	npm run lint

format:
	npm run format

bench-supervisor bench-api-poll bench-bandwidth bench-delta bench-metered bench-fleet-scale: build
	bash scripts/bench.sh $(@:bench-%=%)
