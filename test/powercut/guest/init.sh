#!/bin/busybox sh
# The power-cut guest's /init (busybox sh, in the initramfs that test/powercut/image.mjs builds). The kernel
# command line says what this boot does: pc.mode=round (gateway + QoS 1 publishers until the host kills the
# VM) or pc.mode=drain (empty the queue into files on the disk, then power off cleanly). Lines starting
# with @ are for the host (test/powercut/run.mjs); everything else is kept in its log.
/bin/busybox mkdir -p /bin /proc /sys /dev /tmp /data
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec </dev/null >/dev/ttyS0 2>&1

fail() {
  echo "@fail $*"
  poweroff -f
}

arg() {
  for word in $(cat /proc/cmdline); do
    case "$word" in "pc.$1="*) echo "${word#*=}"; return ;; esac
  done
}

echo "@boot $(cut -d' ' -f1 /proc/uptime)"
# virtio_blk and what it needs, in dependency order (written by image.mjs from the modules' own lists).
for m in $(cat /etc/powercut/modules); do
  insmod "/lib/modules/$m" || fail "insmod $m"
done
n=0
while [ ! -b /dev/vda ]; do
  n=$((n + 1))
  [ $n -gt 300 ] && fail "no /dev/vda after 30 s"
  sleep 0.1
done
# ext4's defaults (data=ordered, barriers on): what a gateway's file system does. A cut leaves the journal
# to replay here, at the next mount.
mount -t ext4 /dev/vda /data || fail "mount /dev/vda"
ifconfig lo 127.0.0.1 up || fail "loopback"
echo "@mounted $(cut -d' ' -f1 /proc/uptime)"

cd /sluice || fail "no /sluice"
mode=$(arg mode)
case "$mode" in
  round)
    # --import of nosync.mjs: the same gateway with the queue's fsyncs skipped (the must-fail run).
    pre=""
    [ "$(arg nosync)" = 1 ] && pre="--import ./test/powercut/guest/nosync.mjs"
    # shellcheck disable=SC2086 # pre is empty or two words
    node $pre dist/gateway/cli/main.js run -c test/powercut/guest/round.yaml &
    node test/powercut/guest/publisher.mjs --round "$(arg round)" --publishers "$(arg publishers)" \
      --window "$(arg window)" &
    wait
    fail "the gateway and the publishers exited before the cut"
    ;;
  drain)
    node test/powercut/guest/drain.mjs test/powercut/guest/drain.yaml || fail "drain failed"
    sync
    umount /data || fail "umount /data"
    echo "@off"
    poweroff -f
    ;;
  probe)
    # How long node takes to start here (run.mjs --probe): bare, with MQTT.js (the publishers), and
    # with the whole gateway loaded (its --version imports every component).
    for what in "-e 0" "-e import('mqtt')" "dist/gateway/cli/main.js --version"; do
      t0=$(cut -d' ' -f1 /proc/uptime)
      node $what >/dev/null || fail "node $what"
      t1=$(cut -d' ' -f1 /proc/uptime)
      echo "@probe node $what: $(awk "BEGIN { print $t1 - $t0 }") s"
    done
    echo "@off"
    poweroff -f
    ;;
  *)
    fail "pc.mode=$mode: expected round or drain"
    ;;
esac
