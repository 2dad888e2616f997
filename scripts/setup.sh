#!/usr/bin/env bash
# Set up everything bpfinspect needs on a Debian 12 machine, idempotently:
# Debian packages (when missing), a virtual environment with the package and
# its test dependencies, and tracefs (for tracepoint attach tests).
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(libbpf1 libbpf-dev clang clang-16 clang-19 llvm llvm-19 bpftool gcc g++ make pahole
      libxdp1 xdp-tools golang-github-cilium-ebpf-dev strace systemtap-sdt-dev less zsh fish
      libpython3.11-dev)
missing=()
for p in "${DEBS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: need root to install: ${missing[*]}" >&2
		exit 3
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The interpreter: $PYTHON when set, else Debian's own python3.11, built with profile-guided
# and link-time optimisation (the same commands take about a seventh less CPU time than under
# an interpreter built without them, such as pyenv's default build: `btf --format c` of this
# kernel's BTF, CPU time of one process against bpftool's in the same run, 4.06x under Debian's
# 3.11.2 and 4.68x under pyenv's 3.11.7), else the python3 on the PATH.  Its venv module is in
# python3-venv, installed here when missing if the script runs as root.  An existing .venv is
# kept whatever it was made with.
debian_python() { [ -x /usr/bin/python3.11 ] && /usr/bin/python3.11 -c 'import ensurepip, venv' 2>/dev/null; }
if [ -z "${PYTHON:-}" ] && [ ! -x .venv/bin/python ] && [ -x /usr/bin/python3.11 ] && ! debian_python \
		&& [ "$(id -u)" -eq 0 ]; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null 2>&1 || true
fi
if [ -n "${PYTHON:-}" ]; then
	PY=$PYTHON
elif debian_python; then
	PY=/usr/bin/python3.11
else
	PY=python3
fi
if [ ! -x .venv/bin/python ]; then
	"$PY" -m venv .venv
fi
# The checkout is installed in "strict" editable mode: a tree of links to its files
# (under build/) on a plain .pth path, so a run starts without the import hook that
# the default editable mode installs (about 10 ms of every start).  The links are
# per file: the install is redone whenever the set of package files changes.
stamp=.venv/.bpfinspect-installed
want=$( { cat pyproject.toml; find bpfinspect templates -type f \( -name '*.py' -o -name '*.lark' \
	-o -name '*.json' -o -name '*.j2' -o -name '*.bpf.o' -o -name '*.pxd' \) -not -path '*/__pycache__/*' | LC_ALL=C sort; } | sha256sum)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! ls -d build/__editable__.bpfinspect-* >/dev/null 2>&1; then
	.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	rm -rf build/__editable__.bpfinspect-*
	if ! .venv/bin/python -m pip install -q -e '.[test,compiled]' --config-settings editable_mode=strict \
		>.venv/pip-install.log 2>&1; then
		cat .venv/pip-install.log >&2
		exit 1
	fi
	echo "$want" > "$stamp"
fi
# What no run should redo: the grammars' parse tables, the compiled templates and the
# bytecode of every module, written into the installed tree (the environment may set
# PYTHONDONTWRITEBYTECODE, and then nothing is cached at run time).  -P: the package
# imported is the installed one, not the checkout in the current directory.
if ! .venv/bin/python -P -m bpfinspect.prebuild >.venv/prebuild.log 2>&1; then
	cat .venv/prebuild.log >&2
	exit 1
fi

# Tracepoint programs attach through tracefs; mount it when we can.
if [ "$(id -u)" -eq 0 ] && [ -d /sys/kernel/tracing ] && [ ! -e /sys/kernel/tracing/events ]; then
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
fi
if [ "$(id -u)" -eq 0 ] && [ -d /sys/fs/bpf ] && ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
fi
