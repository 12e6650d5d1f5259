# Sourced by main.sh and test.sh: shared set-up steps.

# Install the Debian packages named in "$@" that are missing (apt-get update first).
# Only root can; anyone else gets a warning naming what is missing.
install_debs() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "warning: not root, cannot install ${missing[*]}" >&2
  fi
}

# Run pip quietly but keep its exit status (this machine's pip prints a harmless warning
# about a local index on every call; hide just that line).
pip_quiet() {
  "$@" 2>&1 | { grep -v '^WARNING: Location' || true; }
  return "${PIPESTATUS[0]}"
}
