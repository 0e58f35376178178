#!/usr/bin/env bash
# DWCP demo PKI: a private CA and one certificate per host for the mutually
# authenticated TLS link between control planes (docs/peer-link.md).
#
#   scripts/gen-certs.sh --out DIR [--force] HOST_ID...
#
# Writes DIR/ca.pem + DIR/ca.key (EC P-256, self-signed, CA:true, 10 years)
# and, per host, DIR/HOST_ID.pem + DIR/HOST_ID.key (EC P-256, signed by the
# CA, subjectAltName DNS:HOST_ID, extendedKeyUsage serverAuth+clientAuth,
# 825 days). Private keys are PKCS#8 PEM with mode 0600.
#
# Idempotent: an existing CA in DIR is reused, and so is an existing host
# certificate that still verifies against that CA and matches its key; the
# rest is (re)generated. --force regenerates everything, CA included (every
# host certificate in DIR then has to be redistributed).
#
# Exit status: 0 done; 1 openssl failed or DIR holds an inconsistent CA;
# 2 bad usage or openssl missing. Messages go to stderr, nothing to stdout.
set -euo pipefail

readonly CA_DAYS=3650
readonly HOST_DAYS=825
readonly HOST_ID_RE='^[A-Za-z0-9._-]{1,64}$'

OUT=""
FORCE=0
HOSTS=()

usage() {
    cat <<EOF
usage: ${0##*/} --out DIR [--force] HOST_ID...

Creates a demo CA (DIR/ca.pem, DIR/ca.key) and, for each HOST_ID, a host
certificate DIR/HOST_ID.pem with its key DIR/HOST_ID.key for the DWCP
control-plane peer link. The certificate's subjectAltName DNS name is the
host id; peers verify each other by that id, not by address.

options:
  --out DIR   directory to write into (created if missing)
  --force     regenerate the CA and every named host even if present
  -h, --help  show this help

HOST_ID: 1 to 64 characters of [A-Za-z0-9._-], not "ca".
Existing files are reused unless --force: the CA always, a host
certificate when it verifies against the CA and matches its key.

exit status: 0 done; 1 openssl failed or inconsistent CA files;
2 bad usage or openssl missing.
EOF
}

log() { echo "gen-certs: $*" >&2; }
die_usage() {
    echo "gen-certs: error: $*" >&2
    echo "try '${0##*/} --help'" >&2
    exit 2
}
die() {
    echo "gen-certs: error: $*" >&2
    exit 1
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --out)
            [[ $# -ge 2 ]] || die_usage "--out needs a directory"
            OUT=$2
            shift 2
            ;;
        --out=*)
            OUT=${1#--out=}
            shift
            ;;
        --force)
            FORCE=1
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        --)
            shift
            HOSTS+=("$@")
            break
            ;;
        -*) die_usage "unknown option $1" ;;
        *)
            HOSTS+=("$1")
            shift
            ;;
    esac
done

[[ -n "$OUT" ]] || die_usage "--out DIR is required"
[[ ${#HOSTS[@]} -ge 1 ]] || die_usage "at least one HOST_ID is required"
for id in "${HOSTS[@]}"; do
    [[ "$id" =~ $HOST_ID_RE ]] || die_usage "invalid host id '$id': use 1 to 64 characters of [A-Za-z0-9._-]"
    # ca.pem/ca.key are the CA's files; a host named "ca" would overwrite them.
    [[ "$id" != "ca" ]] || die_usage "host id 'ca' is reserved for the CA's own files"
done

command -v openssl >/dev/null 2>&1 ||
    die_usage "openssl not found on PATH; install it (Debian/Ubuntu: apt-get install openssl)"

# Keys are created with mode 0600 from the start, never readable by others
# even for a moment; certificates are chmod'ed to 0644 afterwards.
umask 077
mkdir -p -- "$OUT"
OUT=$(cd -- "$OUT" && pwd)
readonly OUT

WORK=$(mktemp -d "$OUT/.gen-certs.XXXXXX")
readonly WORK
trap 'rm -rf -- "$WORK"' EXIT

# ossl ARGS...: runs openssl with its chatter kept unless it fails.
ossl() {
    if ! openssl "$@" >"$WORK/openssl.log" 2>&1; then
        cat "$WORK/openssl.log" >&2
        die "openssl $1 failed"
    fi
}

# new_key PATH: a fresh EC P-256 private key (PKCS#8 PEM, mode 0600).
new_key() {
    ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
    chmod 600 -- "$1"
}

# same_public_key CERT KEY: true when KEY is the private key of CERT.
same_public_key() {
    local from_cert from_key
    from_cert=$(openssl x509 -in "$1" -noout -pubkey 2>/dev/null) || return 1
    from_key=$(openssl pkey -in "$2" -pubout 2>/dev/null) || return 1
    [[ -n "$from_cert" && "$from_cert" == "$from_key" ]]
}

# random_serial: 128 random bits as an openssl -set_serial argument.
random_serial() {
    echo "0x$(openssl rand -hex 16)"
}

write_ca() {
    # A random suffix keeps the names of two demo CAs apart, so a certificate
    # from another CA is reported as "unknown issuer" and not as a bad
    # signature from a CA of the same name.
    cat >"$WORK/ca.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = DWCP demo CA $(openssl rand -hex 4)
[v3_ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
    new_key "$WORK/ca.key"
    ossl req -x509 -new -config "$WORK/ca.cnf" -extensions v3_ca -key "$WORK/ca.key" \
        -sha256 -days "$CA_DAYS" -set_serial "$(random_serial)" -out "$WORK/ca.pem"
    chmod 644 -- "$WORK/ca.pem"
    # Key first: a crash between the two moves leaves a key without a
    # certificate, which the next run reports instead of using.
    mv -f -- "$WORK/ca.key" "$OUT/ca.key"
    mv -f -- "$WORK/ca.pem" "$OUT/ca.pem"
    log "wrote new CA $OUT/ca.pem"
}

# write_host ID: a key and a CA-signed certificate for host ID.
write_host() {
    local id=$1
    cat >"$WORK/$id.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = $id
[v3_host]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:$id
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
    new_key "$WORK/$id.key"
    ossl req -new -config "$WORK/$id.cnf" -key "$WORK/$id.key" -out "$WORK/$id.csr"
    ossl x509 -req -in "$WORK/$id.csr" -CA "$OUT/ca.pem" -CAkey "$OUT/ca.key" \
        -set_serial "$(random_serial)" -sha256 -days "$HOST_DAYS" \
        -extfile "$WORK/$id.cnf" -extensions v3_host -out "$WORK/$id.pem"
    chmod 644 -- "$WORK/$id.pem"
    mv -f -- "$WORK/$id.key" "$OUT/$id.key"
    mv -f -- "$WORK/$id.pem" "$OUT/$id.pem"
    log "wrote $OUT/$id.pem and $OUT/$id.key"
}

# --- the CA ---
if [[ $FORCE -eq 0 && -f "$OUT/ca.pem" && -f "$OUT/ca.key" ]]; then
    same_public_key "$OUT/ca.pem" "$OUT/ca.key" ||
        die "$OUT/ca.key is not the key of $OUT/ca.pem; fix the files or pass --force to make a new CA"
    log "reusing CA $OUT/ca.pem"
elif [[ $FORCE -eq 0 && (-f "$OUT/ca.pem" || -f "$OUT/ca.key") ]]; then
    die "only one of $OUT/ca.pem and $OUT/ca.key exists; restore the other or pass --force to make a new CA"
else
    write_ca
fi
chmod 600 -- "$OUT/ca.key"

# --- the hosts ---
for id in "${HOSTS[@]}"; do
    pem="$OUT/$id.pem"
    key="$OUT/$id.key"
    if [[ $FORCE -eq 0 && -f "$pem" && -f "$key" ]]; then
        if openssl verify -CAfile "$OUT/ca.pem" -purpose sslserver "$pem" >/dev/null 2>&1 &&
            same_public_key "$pem" "$key"; then
            chmod 600 -- "$key"
            log "reusing $pem"
            continue
        fi
        log "$pem does not verify against $OUT/ca.pem or does not match $key; regenerating it"
    fi
    write_host "$id"
done
