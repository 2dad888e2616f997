#!/bin/sh
# Rebuild the syscall recorder's BPF object from its source, reproducibly:
#
#   scripts/build-tracer.sh [OUT]     (default: bpfinspect/runtime/tracer/syscalls.bpf.o)
#
# The object is committed (a plain `pip install .` needs no compiler); a test
# rebuilds it and compares the bytes.  Fixed compiler (clang-19), fixed flags,
# the source compiled by its relative name from its own directory, no
# .comment (-fno-ident) and no DWARF (llvm-strip -g keeps .BTF and .BTF.ext,
# which libbpf needs for the .maps section): the bytes depend on the compiler
# version and the UAPI headers (linux/bpf.h, bpf/bpf_helpers.h) only.
#
# Environment: CLANG (clang-19), STRIP (llvm-strip-19).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/bpfinspect/runtime/tracer"
out=${1:-"$dir/syscalls.bpf.o"}
case "$out" in
/*) ;;
*) out="$(pwd)/$out" ;;
esac
CLANG=${CLANG:-clang-19}
STRIP=${STRIP:-llvm-strip-19}
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
cd "$dir"
"$CLANG" -O2 -g -target bpfel -fno-ident -fdebug-prefix-map="$dir"=. -Wall -Werror -idirafter "/usr/include/$multiarch" \
	-c syscalls.bpf.c -o "$tmp"
"$STRIP" -g "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "  $out ($("$CLANG" --version | head -n 1))"
