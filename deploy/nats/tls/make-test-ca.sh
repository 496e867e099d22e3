#!/usr/bin/env bash
# A throwaway certificate authority and a server certificate for localhost and the compose
# host names, for testing TLS only. Never use these keys in production.
#   deploy/nats/tls/make-test-ca.sh [OUT_DIR]     (default: deploy/nats/tls/out)
set -euo pipefail
out=${1:-"$(dirname "$0")/out"}
mkdir -p "$out"
cd "$out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=intentcast test CA" -keyout ca-key.pem -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -subj "/CN=localhost" -keyout server-key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=DNS:localhost,DNS:nats-a,DNS:nats-b,DNS:nats-c,IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 \
  -extfile san.ext -out server.pem 2>/dev/null
chmod 600 ca-key.pem server-key.pem
rm -f server.csr san.ext ca.srl
echo "test CA and server certificate in $out (valid 30 days)"
