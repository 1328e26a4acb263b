// Accounts through the SDK, as a client would make them: open registration with the m.login.dummy
// user-interactive auth stage, then a password login that creates the device the scenario uses.

import { randomBytes } from "node:crypto";
import { createClient } from "matrix-js-sdk";
import { sdkLogger, tracingFetch } from "./harness.mjs";

/** A name unique to this run, so a scenario can also run against a long-lived server. */
export function uniqueLocalpart(base) {
  return `${base}-${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
}

/** POST /register twice: the first answers 401 with a UIA session, the second completes m.login.dummy. */
export async function register(baseUrl, localpart, password) {
  const anonymous = createClient({ baseUrl, fetchFn: tracingFetch(`${localpart} (anonymous)`), logger: sdkLogger(localpart) });
  const request = { username: localpart, password, inhibit_login: true };
  let session;
  try {
    await anonymous.registerRequest(request);
    throw new Error("POST /register without auth succeeded; expected a 401 user-interactive auth challenge");
  } catch (error) {
    if (error.httpStatus !== 401 || !error.data?.session) throw error;
    const flows = error.data.flows ?? [];
    if (!flows.some((flow) => flow.stages?.length === 1 && flow.stages[0] === "m.login.dummy")) {
      throw new Error(`the UIA challenge offers no m.login.dummy flow: ${JSON.stringify(error.data)}`);
    }
    session = error.data.session;
  }
  const response = await anonymous.registerRequest({ ...request, auth: { type: "m.login.dummy", session } });
  if (typeof response.user_id !== "string") throw new Error(`no user_id in ${JSON.stringify(response)}`);
  return response.user_id;
}

/** POST /login with m.login.password; returns what createClient needs. */
export async function login(baseUrl, localpart, password) {
  const anonymous = createClient({ baseUrl, fetchFn: tracingFetch(`${localpart} (anonymous)`), logger: sdkLogger(localpart) });
  const response = await anonymous.loginRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: localpart },
    password,
    initial_device_display_name: `interop ${localpart}`,
  });
  for (const field of ["user_id", "access_token", "device_id"]) {
    if (typeof response[field] !== "string") throw new Error(`no ${field} in the login response`);
  }
  return { userId: response.user_id, accessToken: response.access_token, deviceId: response.device_id };
}

/** An authenticated client for a logged-in session (crypto and sync are started by the caller). */
export function clientFor(baseUrl, name, session) {
  return createClient({
    baseUrl,
    userId: session.userId,
    deviceId: session.deviceId,
    accessToken: session.accessToken,
    fetchFn: tracingFetch(name),
    logger: sdkLogger(name),
  });
}
