#!/bin/sh
# The jump host's AuthorizedKeysCommand and AuthorizedPrincipalsCommand: asks registry-api which key or
# certificate may do what, with the jump host's own token, and prints sshd the answer (nothing: refused).
#   AuthorizedKeysCommand       /usr/local/lib/skiff/jump-host-keys.sh /etc/skiff/jump-host.conf keys %u %t %k
#   AuthorizedPrincipalsCommand /usr/local/lib/skiff/jump-host-keys.sh /etc/skiff/jump-host.conf principals %u %i
# The conf file holds SKIFF_API_URL=... and SKIFF_JUMP_HOST_TOKEN=... (one per line; readable only by the
# AuthorizedKeysCommandUser). sshd runs this only if it and every folder above it belong to root and no one else
# may write them. Anything failing (API away, a bad answer) prints nothing: the key is refused, never let in.
set -u
[ $# -ge 4 ] || { echo "usage: $0 CONF keys USER TYPE KEY | $0 CONF principals USER KEY_ID" >&2; exit 2; }
conf=$1
mode=$2
shift 2

api=''
token=''
while IFS= read -r line || [ -n "$line" ]; do
  case $line in
    SKIFF_API_URL=*) api=${line#SKIFF_API_URL=} ;;
    SKIFF_JUMP_HOST_TOKEN=*) token=${line#SKIFF_JUMP_HOST_TOKEN=} ;;
  esac
done <"$conf" || { echo "cannot read $conf" >&2; exit 1; }
[ -n "$api" ] && [ -n "$token" ] || { echo "$conf must set SKIFF_API_URL and SKIFF_JUMP_HOST_TOKEN" >&2; exit 1; }

case $mode in
  keys)
    [ $# -eq 3 ] || { echo "keys takes USER TYPE KEY (%u %t %k)" >&2; exit 2; }
    path=/v1/jump-host/authorized-keys
    set -- --data-urlencode "user=$1" --data-urlencode "type=$2" --data-urlencode "key=$3"
    ;;
  principals)
    [ $# -eq 2 ] || { echo "principals takes USER KEY_ID (%u %i)" >&2; exit 2; }
    path=/v1/jump-host/principals
    set -- --data-urlencode "user=$1" --data-urlencode "keyId=$2"
    ;;
  *) echo "mode '$mode' is neither keys nor principals" >&2; exit 2 ;;
esac

# The token goes in on stdin, not the command line: other users of the jump host can read command lines.
printf 'Authorization: Bearer %s\n' "$token" |
  curl --silent --show-error --fail --max-time 10 --max-filesize 65536 -H @- -G "$@" "${api%/}$path" |
  head -c 65536
