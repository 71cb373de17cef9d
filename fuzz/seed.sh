#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the golden vectors in
# crates/netipc-tests/tests/data/vectors (and, with --regressions, from the kept
# regression inputs in crates/netipc-tests/tests/data/fuzz-regressions).
#
#   fuzz/seed.sh                 seed every target
#   fuzz/seed.sh receiver hello  seed only these targets
#
# The corpus directory is git-ignored; only this script is kept. Running it
# again is harmless (files are overwritten, the fuzzer's own finds stay).
# Needs bash and coreutils only.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
V="$here/../crates/netipc-tests/tests/data/vectors"
R="$here/../crates/netipc-tests/tests/data/fuzz-regressions"
C="$here/corpus"

[ -d "$V" ] || { echo "seed.sh: no vectors at $V" >&2; exit 1; }

byte() { printf "\\x$(printf %02x $(($1 & 255)))"; }
le16() { byte "$1"; byte $(($1 >> 8)); }
le32() { le16 $(($1 & 0xffff)); le16 $((($1 >> 16) & 0xffff)); }
size() { wc -c <"$1" | tr -d ' '; }

# copy TARGET FILE...  (missing globs are skipped)
copy() {
    local t="$1"; shift
    mkdir -p "$C/$t"
    local f
    for f in "$@"; do
        [ -f "$f" ] && cp "$f" "$C/$t/$(basename "$f")"
    done
    return 0
}

seed_header() {
    copy header "$V"/envelope/*.bin "$V"/handshake/*.bin "$V"/chunking/*_pkt0.bin \
        "$V"/negative/neg_env_*.bin
}
seed_chunk_header() {
    copy chunk_header "$V"/chunking/*_pkt[1-9].bin "$V"/envelope/hdr_chunk_only.bin \
        "$V"/negative/neg_chunk_*.bin
}
seed_hello() { copy hello "$V"/codec/hello_payload_*.bin "$V"/negative/neg_hello_*.bin; }
seed_hello_ack() { copy hello_ack "$V"/codec/hello_ack_payload_*.bin "$V"/negative/neg_hello_ack_*.bin; }

# batch_view input: item_count (bytes 20..24 of the outer header) + payload.
seed_batch_view() {
    mkdir -p "$C/batch_view"
    local f
    for f in "$V"/envelope/env_batch_*.bin "$V"/chunking/*batch*_message.bin \
        "$V"/negative/neg_env_batch_*.bin; do
        [ -f "$f" ] || continue
        { head -c 24 "$f" | tail -c 4; tail -c +33 "$f"; } >"$C/batch_view/$(basename "$f")"
    done
}

seed_increment() { copy increment "$V"/codec/inc_*.bin "$V"/negative/neg_inc_*.bin; }
seed_string_reverse() { copy string_reverse "$V"/codec/sr_*.bin "$V"/negative/neg_sr_*.bin; }
seed_snapshot_request() { copy snapshot_request "$V"/codec/cgs_req*.bin "$V"/negative/neg_cgs_req_*.bin; }
seed_snapshot_response() { copy snapshot_response "$V"/codec/cgs_resp*.bin "$V"/negative/neg_cgs_resp_*.bin; }
seed_snapshot_cache() { copy snapshot_cache "$V"/codec/cgs_resp*.bin "$V"/negative/neg_cgs_resp_*.bin; }
seed_cgroups_lookup_request() { copy cgroups_lookup_request "$V"/codec/cgl_req*.bin "$V"/negative/neg_cgl_req_*.bin; }
seed_cgroups_lookup_response() {
    copy cgroups_lookup_response "$V"/codec/cgl_resp*.bin "$V"/codec/cgl_dispatch*.bin \
        "$V"/negative/neg_cgl_resp_*.bin
}
seed_apps_lookup_request() { copy apps_lookup_request "$V"/codec/apps_req*.bin "$V"/negative/neg_apps_req_*.bin; }
seed_apps_lookup_response() {
    copy apps_lookup_response "$V"/codec/apps_resp*.bin "$V"/codec/apps_dispatch*.bin \
        "$V"/negative/neg_apps_resp_*.bin
}

# dispatch input: response budget (u16 LE) + request.
dispatch() {
    local t="$1"; shift
    mkdir -p "$C/$t"
    local f b
    for f in "$@"; do
        [ -f "$f" ] || continue
        for b in 16 64 128 256 1024 65535; do
            { le16 "$b"; cat "$f"; } >"$C/$t/b${b}_$(basename "$f")"
        done
    done
}
seed_cgroups_lookup_dispatch() { dispatch cgroups_lookup_dispatch "$V"/codec/cgl_req*.bin; }
seed_apps_lookup_dispatch() { dispatch apps_lookup_dispatch "$V"/codec/apps_req*.bin; }

# receiver input: flags u8 (8: a session receiver's room), packet_size u32,
# max_payload u32, max_items u32,
# packet count u8, then u16-LE-length-prefixed packets.
receiver_seed() { # OUT FLAGS PACKET_SIZE FILE...
    local out="$1" flags="$2" ps="$3"; shift 3
    {
        byte "$flags"; le32 "$ps"; le32 0xffffffff; le32 0xffffffff; byte $#
        local f
        for f in "$@"; do le16 "$(size "$f")"; cat "$f"; done
    } >"$out"
}
seed_receiver() {
    mkdir -p "$C/receiver"
    local msg seq ps pkts f
    for msg in "$V"/chunking/*_message.bin; do
        seq="$(basename "$msg" _message.bin)"
        ps="${seq#chunk_p}"; ps="${ps%%_*}"
        pkts=()
        for f in "$V/chunking/${seq}"_pkt[0-9].bin; do [ -f "$f" ] && pkts+=("$f"); done
        receiver_seed "$C/receiver/$seq" 0 "$ps" "${pkts[@]}"
        receiver_seed "$C/receiver/${seq}_client" 3 "$ps" "${pkts[@]}"
        receiver_seed "$C/receiver/${seq}_within" 8 "$ps" "${pkts[@]}"
    done
    for f in "$V"/envelope/env_*.bin "$V"/negative/neg_env_*.bin; do
        receiver_seed "$C/receiver/$(basename "$f")" 0 65536 "$f"
        receiver_seed "$C/receiver/client_$(basename "$f")" 3 65536 "$f"
    done
}

seed_server_handshake() {
    copy server_handshake "$V"/handshake/*_hello.bin "$V"/handshake/hs_hello_flags_nonzero_accepted.bin \
        "$V"/negative/neg_hs_hello_*.bin "$V"/envelope/hdr_control_hello_only.bin
}
seed_client_handshake() { copy client_handshake "$V"/handshake/*hello_ack.bin "$V"/negative/neg_hs_ack_*.bin; }

# names input: run_dir length u8, profile u8, token u64, session u64,
# run_dir, service.
names_seed() { # NAME PROFILE RUN_DIR SERVICE
    local dir="$3"
    {
        byte "${#dir}"; byte "$2"
        le32 0x55667788; le32 0x11223344; le32 0x0000abcd; le32 0
        printf '%s%s' "$dir" "$4"
    } >"$C/names/$1"
}
seed_names() {
    mkdir -p "$C/names"
    names_seed basic 2 /run/netdata cgroups-snapshot
    names_seed busywait 4 /tmp apps.lookup_1
    names_seed bad_service 2 /run/netdata 'bad/name'
    names_seed dotdot 4 /run ..
    names_seed long 2 "/$(printf 'd%.0s' $(seq 1 200))" service
}

ALL="header chunk_header hello hello_ack batch_view increment string_reverse
snapshot_request snapshot_response snapshot_cache cgroups_lookup_request cgroups_lookup_response
cgroups_lookup_dispatch apps_lookup_request apps_lookup_response apps_lookup_dispatch
receiver server_handshake client_handshake names"

regressions=0
targets=()
for a in "$@"; do
    case "$a" in
    --regressions) regressions=1 ;;
    *) targets+=("$a") ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"$(echo $ALL)"

for t in "${targets[@]}"; do
    case " $(echo $ALL) " in
    *" $t "*) ;;
    *) echo "seed.sh: unknown target $t" >&2; exit 1 ;;
    esac
    "seed_$t"
    if [ "$regressions" = 1 ] && [ -d "$R/$t" ]; then
        copy "$t" "$R/$t"/*
    fi
    echo "$t: $(ls "$C/$t" | wc -l) inputs"
done
