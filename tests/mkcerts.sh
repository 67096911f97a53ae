#!/bin/sh
# mkcerts.sh DIR: makes the certificates the TLS tests use, with the
# openssl command, into DIR (created):
#   ca.crt ca.key                 a test CA
#   server.crt server.key         CN localhost, SAN DNS:localhost and
#                                 IP:127.0.0.1, signed by ca
#   server2.crt server2.key       the same names, another key (a renewal)
#   client.crt client.key         CN alice, signed by ca
#   other-ca.crt other-ca.key     a second CA
#   other-client.crt .key         CN mallory, signed by other-ca
#   expired.crt expired.key       CN localhost, signed by ca, expired
#   wrong.key                     a key that matches no certificate
# Copyright (c) 2026 The msgd authors.  ISC license: see COPYING.
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"
q() { "$@" >/dev/null 2>&1 || { echo "mkcerts: $* failed" >&2; exit 1; }; }

ca() { # name cn
    q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1.key" -out "$1.crt" -days 30 -subj "/CN=$2" \
        -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name cn ca extensions
    q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
    printf '%s\n' "$4" >"$1.ext"
    q openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" \
        -CAcreateserial -out "$1.crt" -extfile "$1.ext" -days 30
    rm -f "$1.csr" "$1.ext"
}

ca ca "msgd test CA"
ca other-ca "another CA"
leaf server localhost ca \
    "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf server2 localhost ca \
    "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf client alice ca "extendedKeyUsage=clientAuth"
leaf other-client mallory other-ca "extendedKeyUsage=clientAuth"
q openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out wrong.key

# An expired certificate: dates in the past, which only "openssl ca" sets
# (-startdate, -enddate) in OpenSSL 3.0.
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout expired.key -out expired.csr -subj "/CN=localhost"
mkdir -p ca.db
: >ca.db/index.txt
echo 01 >ca.db/serial
cat >ca.db/ca.cnf <<EOF
[ca]
default_ca = test
[test]
dir = ca.db
database = ca.db/index.txt
serial = ca.db/serial
new_certs_dir = ca.db
certificate = ca.crt
private_key = ca.key
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
[ext]
subjectAltName = DNS:localhost,IP:127.0.0.1
EOF
q openssl ca -batch -config ca.db/ca.cnf -extensions ext -in expired.csr \
    -out expired.crt -startdate 20200101000000Z -enddate 20200201000000Z
rm -rf ca.db expired.csr ca.srl other-ca.srl
chmod 600 ./*.key
