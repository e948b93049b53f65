# EFA hardware counters for node-exporter's textfile collector: a sidecar of the node-exporter pod (the chart's
# `sidecars`, in a busybox image: sh, awk, sort) that rewrites $OUT/efa.prom every $INTERVAL seconds.
#
# An EFA device (rdmap*) has no InfiniBand port counters (ports/<n>/counters: the kernel creates them only for a
# device that answers management datagrams, which EFA does not), so node-exporter's InfiniBand collector gives its
# state and rate but no traffic or errors. Its counters are in ports/<n>/hw_counters (Linux
# drivers/infiniband/hw/efa/efa_verbs.c EFA_DEFINE_PORT_STATS: tx_bytes, rx_bytes, rx_drops, rdma_read_wr_err, ...;
# the CloudWatch agent's EFA receiver reads the same files). Each becomes node_efa_<name>_total{device, port}, a
# counter; `lifespan` (the kernel's cache time for them) is not one and is left out. A node without EFA writes an
# empty file.
set -u
SYS="${SYS:-/host/sys}"
OUT="${OUT:-/run/efa-counters}"
INTERVAL="${INTERVAL:-30}"
while :; do
  raw="$OUT/efa.raw"
  : > "$raw"
  for counters in "$SYS"/class/infiniband/*/ports/*/hw_counters; do
    [ -d "$counters" ] || continue
    port_dir="${counters%/hw_counters}"
    port="${port_dir##*/}"
    device_dir="${port_dir%/ports/*}"
    device="${device_dir##*/}"
    for file in "$counters"/*; do
      name="${file##*/}"
      [ "$name" = lifespan ] && continue
      value="$(cat "$file" 2>/dev/null)" || continue
      case "$value" in '' | *[!0-9]*) continue ;; esac
      echo "$name $device $port $value" >> "$raw"
    done
  done
  sort "$raw" | awk '
    $1 != last {
      printf "# HELP node_efa_%s_total EFA hardware counter %s (sysfs ports/<port>/hw_counters).\n", $1, $1
      printf "# TYPE node_efa_%s_total counter\n", $1
      last = $1
    }
    { printf "node_efa_%s_total{device=\"%s\",port=\"%s\"} %s\n", $1, $2, $3, $4 }
  ' > "$OUT/efa.prom.tmp"
  mv "$OUT/efa.prom.tmp" "$OUT/efa.prom"  # the collector reads *.prom: whole files only
  rm -f "$raw"
  [ "${ONCE:-}" = 1 ] && exit 0
  sleep "$INTERVAL"
done
