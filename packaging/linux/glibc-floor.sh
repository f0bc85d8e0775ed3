#!/usr/bin/env bash
# Prints the newest glibc symbol version any ELF file in a folder needs: the bundle's glibc
# floor (it runs on a Linux whose glibc is at least this).  Also lists which files need it.
# Usage: glibc-floor.sh FOLDER
set -euo pipefail
dir=${1:?usage: glibc-floor.sh FOLDER}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
while IFS= read -r -d '' f; do
  if head -c4 "$f" 2>/dev/null | grep -q $'\x7fELF'; then
    objdump -T "$f" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -u | sed "s|^|$f |" >> "$tmp" || true
  fi
done < <(find "$dir" -type f -print0)
floor=$(awk '{print $2}' "$tmp" | sed 's/GLIBC_//' | sort -V | tail -1)
echo "glibc floor: $floor"
echo "needed by:"
grep " GLIBC_$floor\$" "$tmp" | awk '{print "  " $1}' | sed "s|$dir/||" | sort | head -20
