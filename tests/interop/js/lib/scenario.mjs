// What every scenario shares: the base URL argument, the checks, the overall deadline, and the closing summary.

import { Abort, Checks, describeError } from "./harness.mjs";

/**
 * Starts a scenario: reads the homeserver base URL (first argument or SYNAPSE_BASE_URL; usage and exit 2 without it),
 * arms the overall deadline (INTEROP_TIMEOUT_MS, default 120 s) and returns the checks, the list of SDK clients to stop at
 * the end, and `run(main)`, which runs the scenario, reports an unexpected error as a failed check, prints the summary
 * and exits 0 only when every check passed.
 */
export function scenario(script) {
  const overallMs = Number(process.env.INTEROP_TIMEOUT_MS ?? 120_000);
  const baseUrl = process.argv[2] ?? process.env.SYNAPSE_BASE_URL;
  if (!baseUrl) {
    console.error(`usage: node ${script} <homeserver base URL>`);
    process.exit(2);
  }

  const checks = new Checks();
  const clients = [];
  process.on("unhandledRejection", (error) => console.log(`  unhandled rejection: ${describeError(error)}`));

  function finish(forcedCode) {
    for (const client of clients) client.stopClient();
    const code = checks.summary();
    process.exit(forcedCode ?? code);
  }

  const deadline = setTimeout(() => {
    checks.check(`scenario finishes within ${overallMs / 1000} s`, false, "overall deadline reached");
    finish(1);
  }, overallMs);

  async function run(main) {
    try {
      await main();
    } catch (error) {
      if (!(error instanceof Abort)) checks.check("scenario runs without an unexpected error", false, `${describeError(error)}\n${error?.stack ?? ""}`);
      else console.log(`stopped after the failed step "${error.message}"`);
    }
    clearTimeout(deadline);
    finish();
  }

  return { baseUrl, checks, clients, run };
}
