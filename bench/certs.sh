# certs.sh: sourced by bench/run.sh and bench/soak.sh.
#
# make_certs DIR: writes DIR/ca.pem, DIR/server_cert.pem and
# DIR/server_key.pem; returns non-zero (the openssl output on stderr) when
# that fails.
# A throwaway CA and a server certificate for 127.0.0.1, EC P-256 keys, valid
# for 2 days (as t/lib/MCS.pm makes them).
make_certs() {
    local d=$1
    mkdir -p "$d"
    cat > "$d/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = mcshredder-bench
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    local newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    if ! { timeout -s KILL 60 openssl req -x509 -config "$d/openssl.cnf" -extensions v3_ca \
               "${newkey[@]}" -keyout "$d/ca_key.pem" -out "$d/ca.pem" -days 2 \
               -subj "/CN=mcshredder bench CA" &&
           timeout -s KILL 60 openssl req -new -config "$d/openssl.cnf" "${newkey[@]}" \
               -keyout "$d/server_key.pem" -out "$d/server.csr" -subj "/CN=127.0.0.1" &&
           timeout -s KILL 60 openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" \
               -CAkey "$d/ca_key.pem" -set_serial "$((1000 + RANDOM))" -days 2 \
               -out "$d/server_cert.pem" -extfile "$d/openssl.cnf" -extensions v3_server
         } > "$d/openssl.log" 2>&1; then
        cat "$d/openssl.log" >&2
        return 1
    fi
}
