// Preloaded (NODE_OPTIONS=--require) into every emulated Node when the kernel cannot run arm binaries itself
// (no binfmt_misc entry for qemu, as in most containers): process.execPath is then the arm ELF, which a
// spawn(process.execPath) -- vitest's workers, the crash tests' children -- cannot exec. It becomes the
// wrapper script that runs that ELF under qemu; NODE_OPTIONS carries this file on to grandchildren.
'use strict';
const wrapper = process.env.SLUICE_ARM_NODE;
if (wrapper) process.execPath = wrapper;
