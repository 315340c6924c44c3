// A writer of the cpio "newc" format, the one the Linux kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst). Written here rather than piped through a
// cpio binary: it needs no tool, no root for the /dev/console node, and no staging directory.
import { closeSync, openSync, readSync, writeSync, fstatSync } from 'node:fs';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n) {
  return n.toString(16).padStart(8, '0');
}

export class CpioWriter {
  /** @param {string} path the archive to create */
  constructor(path) {
    this.fd = openSync(path, 'w');
    this.offset = 0;
    this.ino = 1;
    this.dirs = new Set(['']);
    this.buffer = Buffer.alloc(1 << 20);
  }

  write(buf) {
    writeSync(this.fd, buf);
    this.offset += buf.length;
  }

  pad() {
    const rest = this.offset % 4;
    if (rest !== 0) this.write(Buffer.alloc(4 - rest));
  }

  /** One header and its name; the kernel wants the name NUL-terminated and both padded to 4 bytes. */
  header(name, mode, size, { rdevMajor = 0, rdevMinor = 0, nlink = 1 } = {}) {
    const fields = [
      this.ino++,
      mode,
      0, // uid: root
      0, // gid
      nlink,
      0, // mtime: fixed, so that the same inputs give the same archive
      size,
      0,
      0,
      rdevMajor,
      rdevMinor,
      Buffer.byteLength(name) + 1,
      0, // check: unused by newc
    ];
    this.write(Buffer.from(`070701${fields.map(hex8).join('')}${name}\0`, 'latin1'));
    this.pad();
  }

  /** A directory and, first, its parents (the kernel creates nothing implicitly). */
  dir(name, mode = 0o755) {
    if (this.dirs.has(name)) return;
    const parent = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : '';
    this.dir(parent);
    this.dirs.add(name);
    this.header(name, S_IFDIR | mode, 0, { nlink: 2 });
  }

  parentOf(name) {
    if (name.includes('/')) this.dir(name.slice(0, name.lastIndexOf('/')));
  }

  /** A regular file with the contents of `source` (a host path), or of `data`. */
  file(name, { source, data, mode }) {
    this.parentOf(name);
    if (data !== undefined) {
      this.header(name, S_IFREG | (mode ?? 0o644), data.length);
      this.write(data);
      this.pad();
      return;
    }
    const fd = openSync(source, 'r');
    try {
      const st = fstatSync(fd);
      this.header(name, S_IFREG | (mode ?? st.mode & 0o7777), st.size);
      let left = st.size;
      while (left > 0) {
        const n = readSync(fd, this.buffer, 0, Math.min(left, this.buffer.length), null);
        if (n === 0) throw new Error(`${source} shrank while being archived`);
        this.write(this.buffer.subarray(0, n));
        left -= n;
      }
      this.pad();
    } finally {
      closeSync(fd);
    }
  }

  symlink(name, target) {
    this.parentOf(name);
    const data = Buffer.from(target);
    this.header(name, S_IFLNK | 0o777, data.length);
    this.write(data);
    this.pad();
  }

  charDevice(name, major, minor, mode = 0o600) {
    this.parentOf(name);
    this.header(name, S_IFCHR | mode, 0, { rdevMajor: major, rdevMinor: minor });
  }

  close() {
    this.header('TRAILER!!!', 0, 0);
    closeSync(this.fd);
    return this.offset;
  }
}
