#!/usr/bin/env bash
# Reserve 2 MiB hugepages for DWCP and mount hugetlbfs. See docs/hugepages.md.
#
#   setup-hugepages.sh [--pages N | --gib G] [--mount DIR]   reserve and mount (root)
#   setup-hugepages.sh --status                               show the current state
#   setup-hugepages.sh --release [--mount DIR]                release pages, unmount if we mounted (root)
#
# Idempotent: --pages/--gib set the size of the 2 MiB pool (not add to it), and
# an existing hugetlbfs mount at DIR is reused. Exit status: 0 ok, 1 error,
# 2 the kernel reserved fewer pages than asked (those it did reserve are kept).
set -euo pipefail

readonly PAGE_KIB=2048
readonly SYSFS_POOL="/sys/kernel/mm/hugepages/hugepages-${PAGE_KIB}kB"
readonly DEFAULT_MOUNT="/dev/hugepages"
readonly DEFAULT_GIB=1
# Records a mount this script made, so --release only unmounts its own.
readonly MARKER="/run/dwcp-hugepages.mounted"

usage() {
    cat <<EOF
usage: $(basename "$0") [--pages N | --gib G] [--mount DIR]
       $(basename "$0") --status
       $(basename "$0") --release [--mount DIR]

  --pages N    size the 2 MiB hugepage pool to N pages
  --gib G      size the pool to G GiB (G * 512 pages); default ${DEFAULT_GIB}
  --mount DIR  hugetlbfs mount point (default ${DEFAULT_MOUNT})
  --status     print pool counters and hugetlbfs mounts, change nothing
  --release    set the pool to 0 pages and unmount DIR if this script mounted it
EOF
}

die() {
    echo "setup-hugepages: error: $*" >&2
    exit 1
}

need_root() {
    [[ $(id -u) -eq 0 ]] || die "must run as root to change hugepage settings (try: sudo $0 ...); --status works as any user"
}

is_uint() { # a whole number small enough for shell arithmetic
    [[ $1 =~ ^[0-9]{1,9}$ ]]
}

pool_file() { # pool_file NAME -> path of the 2 MiB pool counter NAME
    [[ -d $SYSFS_POOL ]] || die "$SYSFS_POOL missing: kernel lacks 2 MiB hugetlb support (CONFIG_HUGETLBFS)"
    echo "$SYSFS_POOL/$1"
}

read_pool() { # read_pool NAME -> value of the counter
    local file
    file=$(pool_file "$1")
    cat "$file"
}

set_pool() { # set_pool N
    local file
    file=$(pool_file nr_hugepages)
    echo "$1" >"$file"
}

# Prints the hugetlbfs mount points, one per line (octal escapes as in /proc/mounts).
hugetlbfs_mounts() {
    awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts
}

mounted_fstype() { # mounted_fstype DIR -> fs type mounted exactly at DIR, or nothing
    awk -v dir="$1" '$2 == dir { t = $3 } END { if (t) print t }' /proc/mounts
}

print_status() {
    local total free rsvd surp
    total=$(read_pool nr_hugepages)
    free=$(read_pool free_hugepages)
    rsvd=$(read_pool resv_hugepages)
    surp=$(read_pool surplus_hugepages)
    echo "2 MiB hugepages: ${total} reserved ($((total * PAGE_KIB / 1024)) MiB), ${free} free, ${rsvd} promised to mappings, ${surp} surplus"
    local node_dir
    for node_dir in /sys/devices/system/node/node*/hugepages/"hugepages-${PAGE_KIB}kB"; do
        [[ -d $node_dir ]] || continue
        local node=${node_dir#/sys/devices/system/node/}
        node=${node%%/*}
        echo "  ${node}: $(cat "$node_dir/nr_hugepages") reserved, $(cat "$node_dir/free_hugepages") free"
    done
    local mounts
    mounts=$(hugetlbfs_mounts)
    if [[ -n $mounts ]]; then
        echo "hugetlbfs mounted at:"
        local line
        while IFS= read -r line; do
            echo "  ${line}"
        done <<<"$mounts"
    else
        echo "hugetlbfs: not mounted"
    fi
    if [[ -f $MARKER ]]; then
        echo "mounted by this script: $(cat "$MARKER")"
    fi
}

do_setup() { # do_setup PAGES DIR
    local want=$1 dir=$2 got fstype
    # Check the mount point before changing anything.
    fstype=$(mounted_fstype "$dir")
    if [[ -n $fstype && $fstype != hugetlbfs ]]; then
        die "${dir} already has a ${fstype} filesystem mounted; choose another --mount DIR"
    fi

    set_pool "$want"
    got=$(read_pool nr_hugepages)
    if ((got < want)); then
        # Usually fragmentation: compact memory once and retry.
        echo "kernel reserved ${got} of ${want} pages; compacting memory and retrying"
        if [[ -w /proc/sys/vm/compact_memory ]]; then
            echo 1 >/proc/sys/vm/compact_memory
        fi
        set_pool "$want"
        got=$(read_pool nr_hugepages)
    fi

    if [[ $fstype == hugetlbfs ]]; then
        echo "hugetlbfs already mounted at ${dir}"
    else
        mkdir -p "$dir"
        mount -t hugetlbfs -o pagesize=2M nodev "$dir"
        echo "$dir" >"$MARKER"
        echo "mounted hugetlbfs (pagesize=2M) at ${dir}"
    fi

    echo
    print_status
    if ((got < want)); then
        echo
        echo "WARNING: asked for ${want} pages but the kernel reserved only ${got}" \
            "($((got * PAGE_KIB / 1024)) of $((want * PAGE_KIB / 1024)) MiB): memory is too fragmented or too small." >&2
        echo "  Free memory and re-run, or reserve at boot with the kernel parameters hugepagesz=2M hugepages=${want}." >&2
        exit 2
    fi
    echo
    echo "OK: ${got} x 2 MiB hugepages reserved ($((got * PAGE_KIB / 1024)) MiB)."
}

do_release() { # do_release DIR
    local dir=$1
    if [[ -f $MARKER && $(cat "$MARKER") == "$dir" && $(mounted_fstype "$dir") == hugetlbfs ]]; then
        if [[ -n $(find "$dir" -mindepth 1 -print -quit) ]]; then
            die "${dir} still holds files (guest memory?); remove them first, unmounting would destroy them"
        fi
        umount "$dir"
        rm -f "$MARKER"
        echo "unmounted hugetlbfs at ${dir}"
    elif [[ $(mounted_fstype "$dir") == hugetlbfs ]]; then
        echo "leaving hugetlbfs at ${dir} mounted: this script did not mount it"
    fi
    if [[ -f $MARKER && $(mounted_fstype "$(cat "$MARKER")") != hugetlbfs ]]; then
        rm -f "$MARKER" # stale: unmounted by hand since
    fi
    set_pool 0
    local left
    left=$(read_pool nr_hugepages)
    if ((left > 0)); then
        echo "WARNING: ${left} pages are still in use by running processes; the kernel frees them when they exit" >&2
    fi
    echo
    print_status
}

main() {
    local mode=setup pages="" gib="" dir=$DEFAULT_MOUNT
    while (($# > 0)); do
        case $1 in
        --pages)
            (($# >= 2)) || die "--pages needs a number"
            is_uint "$2" || die "--pages: '$2' is not a whole number"
            pages=$2
            shift 2
            ;;
        --gib)
            (($# >= 2)) || die "--gib needs a number"
            is_uint "$2" || die "--gib: '$2' is not a whole number"
            gib=$2
            shift 2
            ;;
        --mount)
            (($# >= 2)) || die "--mount needs a directory"
            [[ $2 == /* ]] || die "--mount: '$2' must be an absolute path"
            [[ $2 != *[[:space:]]* ]] || die "--mount: '$2' contains whitespace, which is not supported"
            dir=${2%/}
            [[ -n $dir ]] || die "--mount: refusing to use /"
            shift 2
            ;;
        --status) mode=status; shift ;;
        --release) mode=release; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
        esac
    done
    [[ -z $pages || -z $gib ]] || die "give --pages or --gib, not both"

    case $mode in
    status)
        print_status
        ;;
    release)
        [[ -z $pages && -z $gib ]] || die "--release takes no size"
        need_root
        do_release "$dir"
        ;;
    setup)
        need_root
        if [[ -n $gib ]]; then
            pages=$((gib * 1024 * 1024 / PAGE_KIB))
        elif [[ -z $pages ]]; then
            pages=$((DEFAULT_GIB * 1024 * 1024 / PAGE_KIB))
        fi
        ((pages > 0)) || die "size must be at least one page; use --release to free the pool"
        do_setup "$pages" "$dir"
        ;;
    esac
}

main "$@"
