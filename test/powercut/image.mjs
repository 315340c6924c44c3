// What the power-cut guest boots: Debian's cloud kernel (fetched with apt-get download, unpacked into
// .cache/powercut, never installed), an initramfs holding busybox, this host's node with the shared
// libraries it and the native addons link against, the built gateway with its production dependencies and
// test/powercut/guest/, and an ext4 disk image for the gateway's data.
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join, relative } from 'node:path';

import { CpioWriter } from './cpio.mjs';

/** The package whose kernel is booted: Debian's smallest (virtio drivers, no hardware zoo). */
export const KERNEL_PACKAGE = 'linux-image-cloud-amd64';

/** A failure of the test's own machinery (not a durability finding): says what to do. */
export class PowercutError extends Error {
  constructor(message, hint) {
    super(hint ? `${message}\n  hint: ${hint}` : message);
    this.name = 'PowercutError';
  }
}

function run(command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.error) throw new PowercutError(`${command}: ${r.error.message}`, options.hint);
  if (r.status !== 0) {
    throw new PowercutError(
      `${command} ${args.join(' ')} exited with ${r.status}:\n${(r.stderr || r.stdout).trim()}`,
      options.hint,
    );
  }
  return r.stdout;
}

/** A tool from e2fsprogs or the like, also where /usr/sbin is not on PATH (non-root users). */
export function sbin(name) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin']) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  throw new PowercutError(`${name} not found`, 'the setup installs it: run without --no-setup');
}

/**
 * The cloud kernel package's current version (the metapackage depends on exactly one), downloaded and
 * unpacked once into `cacheDir/kernel/<package>`. Returns the kernel image and the modules directory.
 */
export function fetchKernel(cacheDir, say) {
  const depends = run('apt-cache', ['depends', KERNEL_PACKAGE], {
    hint: 'apt-cache comes with apt: this needs a Debian (or derived) host',
  });
  const pkg = /Depends: (linux-image-\S+)/.exec(depends)?.[1];
  if (!pkg)
    throw new PowercutError(
      `apt-cache depends ${KERNEL_PACKAGE} names no kernel:\n${depends}`,
      'apt-get update',
    );
  const dir = join(cacheDir, 'kernel', pkg);
  if (!existsSync(join(dir, 'done'))) {
    const tmp = `${dir}.tmp`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    say(`fetching ${pkg} (apt-get download, unpacked into ${relative(process.cwd(), dir)}; not installed)`);
    run('apt-get', ['download', pkg], {
      cwd: tmp,
      hint: `the package lists may be old: run apt-get update (as root), then again`,
    });
    const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) throw new PowercutError(`apt-get download ${pkg} left no .deb in ${tmp}`);
    run('dpkg-deb', ['-x', join(tmp, deb), join(tmp, 'root')]);
    rmSync(join(tmp, deb));
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    mkdirSync(join(dir, 'done'));
  }
  const boot = join(dir, 'root', 'boot');
  const vmlinuz = readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) throw new PowercutError(`no vmlinuz in ${boot}`);
  const version = vmlinuz.slice('vmlinuz-'.length);
  return { pkg, kernel: join(boot, vmlinuz), modules: join(dir, 'root', 'lib', 'modules', version) };
}

function walk(dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else out.push(path);
  }
  return out;
}

/**
 * `wanted` and the modules they need, each after its dependencies, as paths below `modulesDir`. The
 * dependencies are read from each module's .modinfo strings (`depends=a,b`), since an unpacked package
 * has no modules.dep and busybox's depmod would need the whole tree in the guest. Built-in drivers are
 * not modules and need nothing.
 */
export function moduleOrder(modulesDir, wanted) {
  const byName = new Map();
  for (const path of walk(join(modulesDir, 'kernel'))) {
    const m = /([^/]+)\.ko$/.exec(path);
    if (m) byName.set(m[1].replace(/-/g, '_'), path);
    else if (/\.ko\.(xz|zst|gz)$/.test(path) && wanted.some((w) => path.includes(`/${w}.ko`))) {
      throw new PowercutError(`${path} is compressed; insmod in the guest cannot load it`);
    }
  }
  const order = [];
  const seen = new Set();
  const visit = (name) => {
    if (seen.has(name)) return;
    seen.add(name);
    const path = byName.get(name);
    if (!path) throw new PowercutError(`kernel module ${name} not found below ${modulesDir}`);
    const text = readFileSync(path).toString('latin1');
    const depends = /depends=([^\0]*)\0/.exec(text)?.[1] ?? '';
    for (const dep of depends.split(',').filter(Boolean)) visit(dep.replace(/-/g, '_'));
    order.push(relative(modulesDir, path));
  };
  for (const name of wanted) visit(name);
  return order;
}

/** The shared libraries `binary` loads, as ldd resolves them here ({ path as loaded, real file }). */
function sharedLibraries(binary) {
  const r = spawnSync('ldd', [binary], { encoding: 'utf8' });
  if (r.status !== 0) return []; // "not a dynamic executable": static, needs nothing
  const libs = [];
  for (const line of r.stdout.split('\n')) {
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}

/** The production dependencies' directories (npm's own resolution), relative to the checkout. */
function productionPackages(root) {
  const r = spawnSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 16 << 20,
  });
  // npm ls exits 1 for problems such as a missing optional package but still lists what is there.
  const dirs = r.stdout
    .split('\n')
    .filter((line) => line.includes('/node_modules/') && existsSync(line))
    .map((line) => relative(root, line));
  if (dirs.length === 0)
    throw new PowercutError(`npm ls found no production packages in ${root}:\n${r.stderr}`, 'npm ci');
  return [...new Set(dirs)];
}

/** Files of a package below `dir`, without its nested node_modules (npm ls lists those packages itself). */
function packageFiles(dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') packageFiles(path, out);
    } else if (entry.isFile() || entry.isSymbolicLink()) {
      out.push(path);
    }
  }
  return out;
}

/**
 * Writes the initramfs to `out` and returns its size and file count. Everything the guest runs is a plain
 * file at its host path below /sluice (the checkout) or at the path the loader looks for (libraries).
 */
export function buildInitramfs({ root, modulesDir, out, node = process.execPath }) {
  const busybox = '/bin/busybox';
  if (!existsSync(busybox) || sharedLibraries(busybox).length > 0) {
    throw new PowercutError(`${busybox} is missing or not static`, 'apt-get install busybox-static');
  }
  const cpio = new CpioWriter(out);
  let files = 0;
  const add = (name, source, mode) => {
    cpio.file(name, { source, mode });
    files += 1;
  };
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'data', 'bin', 'usr/bin', 'etc/powercut']) cpio.dir(d);
  cpio.charDevice('dev/console', 5, 1); // the kernel opens it for /init's stdio before devtmpfs exists
  add('init', join(root, 'test/powercut/guest/init.sh'), 0o755);
  add('bin/busybox', busybox, 0o755);
  add('usr/bin/node', node, 0o755);

  const modules = moduleOrder(modulesDir, ['virtio_blk', 'virtio_pci']);
  for (const m of modules) add(`lib/modules/${m}`, join(modulesDir, m));
  cpio.file('etc/powercut/modules', { data: Buffer.from(`${modules.join('\n')}\n`) });

  const natives = [node];
  const project = ['package.json'];
  for (const f of walk(join(root, 'dist'))) project.push(relative(root, f));
  for (const f of walk(join(root, 'test/powercut/guest'))) project.push(relative(root, f));
  for (const dir of productionPackages(root)) {
    for (const f of packageFiles(join(root, dir))) {
      const rel = relative(root, f);
      project.push(rel);
      if (rel.endsWith('.node')) natives.push(f);
    }
  }
  for (const rel of project) {
    const source = join(root, rel);
    if (statSync(source).isFile()) add(`sluice/${rel}`, realpathSync(source));
  }

  const libs = new Set();
  for (const binary of natives) for (const lib of sharedLibraries(binary)) libs.add(lib);
  for (const lib of libs) add(lib.slice(1), realpathSync(lib), 0o755);
  const bytes = cpio.close();
  return { bytes, files, modules, libs: [...libs] };
}

/** A fresh ext4 file system in a sparse file of `mib` MiB (mkfs needs no root for a file). */
export function createDisk(path, mib) {
  rmSync(path, { force: true });
  run('truncate', ['-s', `${mib}M`, path]);
  // Initialised now, not lazily by the guest kernel: no background writes of its own during the rounds.
  run(sbin('mkfs.ext4'), ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', path]);
}

/** Copies directory `from` of the ext4 image out to `to` (debugfs reads the image; no mount, no root). */
export function copyOut(image, from, to) {
  rmSync(to, { recursive: true, force: true });
  mkdirSync(to, { recursive: true });
  const text = run(sbin('debugfs'), ['-R', `rdump ${from} ${to}`, image]);
  return text;
}
