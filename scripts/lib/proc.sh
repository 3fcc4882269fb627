# Per-process readings for the benchmark scripts (sourced): CPU seconds, peak RSS and bytes
# written of a running (or not yet reaped) process, from /proc.

TICKS=$(getconf CLK_TCK)

# CPU seconds (user + system) process $1 has used so far.
proc_cpu() {
    # Fields after the command name (which ends with the last ')'): utime is the 12th, stime 13th.
    local rest
    rest=$(sed 's/^.*) //' "/proc/$1/stat")
    awk -v t="$TICKS" '{ printf "%.2f", ($12 + $13) / t }' <<<"$rest"
}

# Peak RSS of process $1 in MiB.
proc_hwm() {
    awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"
}

# Bytes process $1 has written so far (wchar).
proc_wchar() {
    awk '/^wchar:/ { print $2 }' "/proc/$1/io"
}
