#!/usr/bin/env bash
# Reserve hugepages (2 MiB, or 1 GiB with --size 1G) for DWCP and mount
# hugetlbfs. See docs/hugepages.md.
#
#   setup-hugepages.sh [--size 2M|1G] [--pages N | --gib G] [--mount DIR]   reserve and mount (root)
#   setup-hugepages.sh [--size 2M|1G] --status                               show the current state
#   setup-hugepages.sh [--size 2M|1G] --release [--mount DIR]                release pages, unmount if we mounted (root)
#
# Idempotent: --pages/--gib set the size of the pool of the selected page size
# (not add to it), and an existing hugetlbfs mount of that page size at DIR is
# reused. 1 GiB pages can rarely be reserved on a running host (each needs
# 1 GiB of contiguous free memory): reserve them at boot with the kernel
# parameters hugepagesz=1G hugepages=N, then run this script to mount them.
# Exit status: 0 ok, 1 error, 2 the kernel reserved fewer pages than asked
# (those it did reserve are kept).
set -euo pipefail

readonly SYSFS_HUGEPAGES="/sys/kernel/mm/hugepages"
readonly DEFAULT_GIB=1
readonly MARKER_2M="/run/dwcp-hugepages.mounted"
readonly MARKER_1G="/run/dwcp-hugepages-1G.mounted"

# Set by select_size from --size (default 2M): the page size in KiB, its sysfs
# pool, the default mount point, and the marker that records a mount this
# script made, so --release only unmounts its own.
SIZE=2M
PAGE_KIB=2048
SIZE_LABEL="2 MiB"
SYSFS_POOL="${SYSFS_HUGEPAGES}/hugepages-2048kB"
DEFAULT_MOUNT="/dev/hugepages"
MARKER=$MARKER_2M

usage() {
    cat <<EOF
usage: $(basename "$0") [--size 2M|1G] [--pages N | --gib G] [--mount DIR]
       $(basename "$0") [--size 2M|1G] --status
       $(basename "$0") [--size 2M|1G] --release [--mount DIR]

  --size S     page size: 2M (default) or 1G. 1 GiB pages usually must be
               reserved at boot (kernel parameters hugepagesz=1G hugepages=N)
  --pages N    size the pool of S pages to N pages
  --gib G      size the pool to G GiB (G * 512 pages of 2M, G pages of 1G);
               default ${DEFAULT_GIB}
  --mount DIR  hugetlbfs mount point, mounted with pagesize=S (default
               /dev/hugepages for 2M, /dev/hugepages1G for 1G)
  --status     print pool counters and hugetlbfs mounts, change nothing; any
               user; every page size the kernel has unless --size is given
  --release    set the pool of S pages to 0 and unmount DIR if this script
               mounted it
EOF
}

die() {
    echo "setup-hugepages: error: $*" >&2
    exit 1
}

select_size() { # select_size 2M|1G
    case $1 in
    2M | 2m)
        SIZE=2M PAGE_KIB=2048 SIZE_LABEL="2 MiB" DEFAULT_MOUNT="/dev/hugepages" MARKER=$MARKER_2M
        ;;
    1G | 1g)
        SIZE=1G PAGE_KIB=1048576 SIZE_LABEL="1 GiB" DEFAULT_MOUNT="/dev/hugepages1G" MARKER=$MARKER_1G
        ;;
    *) die "--size: '$1' is not a supported page size (2M or 1G)" ;;
    esac
    SYSFS_POOL="${SYSFS_HUGEPAGES}/hugepages-${PAGE_KIB}kB"
}

need_root() {
    [[ $(id -u) -eq 0 ]] ||
        die "must run as root to change hugepage settings (running as $(id -un 2>/dev/null || id -u); try: sudo $0 ...); --status works as any user"
}

is_uint() { # a whole number small enough for shell arithmetic
    [[ $1 =~ ^[0-9]{1,9}$ ]]
}

pool_file() { # pool_file NAME -> path of the counter NAME of the selected pool
    if [[ ! -d $SYSFS_POOL ]]; then
        if [[ $SIZE == 1G ]] && ! grep -qw pdpe1gb /proc/cpuinfo 2>/dev/null; then
            die "$SYSFS_POOL missing: this CPU has no 1 GiB pages (no pdpe1gb flag in /proc/cpuinfo); use --size 2M"
        fi
        die "$SYSFS_POOL missing: kernel lacks ${SIZE_LABEL} hugetlb support (CONFIG_HUGETLBFS)"
    fi
    echo "$SYSFS_POOL/$1"
}

read_pool() { # read_pool NAME -> value of the counter
    local file
    file=$(pool_file "$1")
    cat "$file"
}

set_pool() { # set_pool N; fails when the kernel refuses the write
    local file
    file=$(pool_file nr_hugepages)
    { echo "$1" >"$file"; } 2>/dev/null
}

# Prints the hugetlbfs mount points, one per line (octal escapes as in /proc/mounts).
hugetlbfs_mounts() {
    awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts
}

mounted_fstype() { # mounted_fstype DIR -> fs type mounted exactly at DIR, or nothing
    awk -v dir="$1" '$2 == dir { t = $3 } END { if (t) print t }' /proc/mounts
}

# mounted_pagesize DIR -> the pagesize= option of the mount at DIR (2M, 1G),
# or nothing when the kernel does not show one
mounted_pagesize() {
    awk -v dir="$1" '$2 == dir { o = $4 }
        END {
            n = split(o, opts, ",")
            for (i = 1; i <= n; i++)
                if (opts[i] ~ /^pagesize=/) { sub(/^pagesize=/, "", opts[i]); print opts[i] }
        }' /proc/mounts
}

# to_kib SIZE -> SIZE (as in pagesize=: 2048K, 2M, 1024M, 1G) in KiB, or
# nothing when it is not of that form
to_kib() {
    local number unit
    [[ ${1^^} =~ ^([0-9]{1,7})([KMG])$ ]] || return 0
    number=${BASH_REMATCH[1]}
    unit=${BASH_REMATCH[2]}
    case $unit in
    K) echo "$number" ;;
    M) echo $((number * 1024)) ;;
    G) echo $((number * 1024 * 1024)) ;;
    esac
}

print_status() {
    print_pool_status
    print_mounts_status
}

print_pool_status() { # the selected pool's counters, in total and per NUMA node
    local total free rsvd surp
    total=$(read_pool nr_hugepages)
    free=$(read_pool free_hugepages)
    rsvd=$(read_pool resv_hugepages)
    surp=$(read_pool surplus_hugepages)
    echo "${SIZE_LABEL} hugepages: ${total} reserved ($((total * PAGE_KIB / 1024)) MiB), ${free} free, ${rsvd} promised to mappings, ${surp} surplus"
    local node_dir
    for node_dir in /sys/devices/system/node/node*/hugepages/"hugepages-${PAGE_KIB}kB"; do
        [[ -d $node_dir ]] || continue
        local node=${node_dir#/sys/devices/system/node/}
        node=${node%%/*}
        echo "  ${node}: $(cat "$node_dir/nr_hugepages") reserved, $(cat "$node_dir/free_hugepages") free"
    done
}

print_mounts_status() { # hugetlbfs mounts, and those this script made
    local mounts
    mounts=$(hugetlbfs_mounts)
    if [[ -n $mounts ]]; then
        echo "hugetlbfs mounted at:"
        local line
        while IFS= read -r line; do
            local pagesize
            pagesize=$(mounted_pagesize "$line")
            echo "  ${line}${pagesize:+ (pagesize=${pagesize})}"
        done <<<"$mounts"
    else
        echo "hugetlbfs: not mounted"
    fi
    local marker
    for marker in "$MARKER_2M" "$MARKER_1G"; do
        if [[ -f $marker ]]; then
            echo "mounted by this script: $(cat "$marker")"
        fi
    done
}

# --status without --size: every page size this script handles that the
# kernel has.
print_all_status() {
    local size shown=0
    for size in 2M 1G; do
        select_size "$size"
        if [[ -d $SYSFS_POOL ]]; then
            print_pool_status
            shown=1
        fi
    done
    if ((shown == 0)); then
        echo "no hugetlb pools in ${SYSFS_HUGEPAGES}: kernel lacks hugetlb support (CONFIG_HUGETLBFS)"
    fi
    print_mounts_status
}

do_setup() { # do_setup PAGES DIR
    local want=$1 dir=$2 got fstype pagesize refused=""
    # Check the pool and the mount point before changing anything.
    pool_file nr_hugepages >/dev/null
    fstype=$(mounted_fstype "$dir")
    if [[ -n $fstype && $fstype != hugetlbfs ]]; then
        die "${dir} already has a ${fstype} filesystem mounted; choose another --mount DIR"
    fi
    if [[ $fstype == hugetlbfs ]]; then
        # The kernel shows 1 GiB pages as pagesize=1024M.
        pagesize=$(mounted_pagesize "$dir")
        if [[ -n $pagesize && $(to_kib "$pagesize") != "$PAGE_KIB" ]]; then
            die "${dir} has hugetlbfs with pagesize=${pagesize}, not ${SIZE}; choose another --mount DIR"
        fi
    fi

    set_pool "$want" || refused="the kernel refused the write"
    got=$(read_pool nr_hugepages)
    if ((got < want)); then
        # Usually fragmentation: compact memory once and retry.
        echo "kernel reserved ${got} of ${want} ${SIZE_LABEL} pages${refused:+ (${refused})}; compacting memory and retrying"
        if [[ -w /proc/sys/vm/compact_memory ]]; then
            echo 1 >/proc/sys/vm/compact_memory
        fi
        refused=""
        set_pool "$want" || refused="the kernel refused the write"
        got=$(read_pool nr_hugepages)
    fi

    if [[ $fstype == hugetlbfs ]]; then
        echo "hugetlbfs already mounted at ${dir}"
    else
        mkdir -p "$dir"
        mount -t hugetlbfs -o "pagesize=${SIZE}" nodev "$dir" ||
            die "cannot mount hugetlbfs (pagesize=${SIZE}) at ${dir}"
        echo "$dir" >"$MARKER"
        echo "mounted hugetlbfs (pagesize=${SIZE}) at ${dir}"
    fi

    echo
    print_status
    if ((got < want)); then
        echo
        echo "WARNING: asked for ${want} ${SIZE_LABEL} pages but the kernel reserved only ${got}" \
            "($((got * PAGE_KIB / 1024)) of $((want * PAGE_KIB / 1024)) MiB)${refused:+; ${refused}}: memory is too fragmented or too small." >&2
        if [[ $SIZE == 1G ]]; then
            echo "  1 GiB pages usually must be reserved at boot, before memory fragments: add the kernel parameters" \
                "hugepagesz=1G hugepages=${want} (e.g. to GRUB_CMDLINE_LINUX), reboot, then re-run this script to mount them." >&2
        else
            echo "  Free memory and re-run, or reserve at boot with the kernel parameters hugepagesz=2M hugepages=${want}." >&2
        fi
        exit 2
    fi
    echo
    echo "OK: ${got} x ${SIZE_LABEL} hugepages reserved ($((got * PAGE_KIB / 1024)) MiB)."
}

do_release() { # do_release DIR
    local dir=$1
    pool_file nr_hugepages >/dev/null
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
    set_pool 0 || echo "WARNING: the kernel refused to set the ${SIZE_LABEL} pool to 0" >&2
    local left
    left=$(read_pool nr_hugepages)
    if ((left > 0)); then
        echo "WARNING: ${left} pages are still in use by running processes; the kernel frees them when they exit" >&2
    fi
    echo
    print_status
}

main() {
    local mode=setup pages="" gib="" dir="" size=""
    while (($# > 0)); do
        case $1 in
        --size)
            (($# >= 2)) || die "--size needs 2M or 1G"
            select_size "$2"
            size=$SIZE
            shift 2
            ;;
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
    # --mount may come before --size, so the default is chosen only now.
    dir=${dir:-$DEFAULT_MOUNT}

    case $mode in
    status)
        if [[ -n $size ]]; then print_status; else print_all_status; fi
        ;;
    release)
        [[ -z $pages && -z $gib ]] || die "--release takes no --pages or --gib"
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
