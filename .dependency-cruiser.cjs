// The floors of the tree, checked by `npm run lint` (dependency-cruiser): lower floors never import higher
// ones. Type-only imports count (tsPreCompilationDeps): a contract that names a feature's type is tied to it.
// test/lint/dependency-rules.test.ts breaks each rule on purpose and checks that it fails.

/** The core contract: the files directly in gateway/ (components, reading, errors, metrics-spec, status). */
const CORE = '^gateway/[^/]+[.]ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A circle of imports has no bottom floor: pull the shared part down into a lower module.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'core-knows-no-feature',
      severity: 'error',
      comment:
        'The core contract (components, reading, errors, metrics-spec, status) imports only the core: ' +
        'feature folders (sources, sinks, queue, observe, fleet, cli, runtime, config) and drivers build on it.',
      from: { path: CORE },
      to: { path: '^(gateway/[^/]+/|drivers/)' },
    },
    {
      name: 'drivers-know-no-gateway',
      severity: 'error',
      comment:
        'Drivers are pure translators (bytes in, readings out) with their own contract (drivers/driver.ts: ' +
        'DriverValue, DriverOptionsError); they import nothing of the gateway, not even its core. The serial ' +
        'source adapts them, and asserts that DriverValue stays the core ReadingValue.',
      from: { path: '^drivers/' },
      to: { path: '^gateway/' },
    },
    {
      name: 'no-feature-imports-cli',
      severity: 'error',
      comment: 'The command line is the top floor: it imports the features, never the other way round.',
      from: { path: '^(gateway|drivers)/', pathNot: '^gateway/cli/' },
      to: { path: '^gateway/cli/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import the cruiser cannot resolve is an import whose floor it cannot check.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules|test)/' },
    // Resolve packages as Node and TypeScript do (package.json `exports`; aedes ships only an exports map).
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
