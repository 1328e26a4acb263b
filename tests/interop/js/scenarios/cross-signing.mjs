// Cross-signing between two matrix-js-sdk clients with the Rust crypto stack, against the homeserver at the base URL
// given as the first argument:
//
//   node scenarios/cross-signing.mjs http://127.0.0.1:8008
//
// alice bootstraps cross-signing (first upload: no user-interactive auth), her SDK signs her device; bob, in a room with
// her, downloads her keys and finds her device signed by its owner; alice then resets her identity (user-interactive auth
// with her password) and bob's SDK notices the new identity through his sync's device_lists. Prints one line per check and
// "N passed, M failed"; exits 0 only when every check passed.

import { randomBytes } from "node:crypto";
import { ClientEvent, KnownMembership, SyncState } from "matrix-js-sdk";
import { describeError, rawRequest, until } from "../lib/harness.mjs";
import { scenario } from "../lib/scenario.mjs";
import { clientFor, login, register, uniqueLocalpart } from "../lib/users.mjs";

const WAIT_MS = 30_000;

const { baseUrl, checks, clients, run } = scenario("scenarios/cross-signing.mjs");

async function participant(base) {
  const localpart = uniqueLocalpart(base);
  const password = randomBytes(12).toString("base64url");
  await checks.step(`${base} registers`, () => register(baseUrl, localpart, password));
  const session = await checks.step(`${base} logs in`, () => login(baseUrl, localpart, password));
  const client = clientFor(baseUrl, base, session);
  clients.push(client);
  client.on(ClientEvent.Sync, (state, _previous, data) => {
    if (state === SyncState.Error) console.log(`  [${base}] sync error: ${describeError(data?.error)}`);
  });
  await checks.step(`${base} initialises Rust crypto`, () => client.initRustCrypto({ useIndexedDB: false }));
  await checks.step(`${base}'s sync loop starts`, async () => {
    await client.startClient({ initialSyncLimit: 20 });
    await until(() => [SyncState.Prepared, SyncState.Syncing].includes(client.getSyncState()), WAIT_MS, "the first sync");
  });
  return { name: base, client, password, uiaPrompts: 0, userId: session.userId, deviceId: session.deviceId, accessToken: session.accessToken };
}

/** The application's UIA callback: try without auth, answer a 401 challenge with the password. */
function uiaWithPassword(user) {
  return async (makeRequest) => {
    try {
      return await makeRequest(null);
    } catch (error) {
      if (error.httpStatus !== 401 || !error.data?.session) throw error;
      user.uiaPrompts++;
      return await makeRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: user.userId },
        password: user.password,
        session: error.data.session,
      });
    }
  };
}

async function query(asker, owner) {
  const { status, json, text } = await rawRequest(baseUrl, asker.accessToken, "POST", "/_matrix/client/v3/keys/query",
    { device_keys: { [owner.userId]: [] } });
  if (status !== 200) throw new Error(`POST /keys/query -> ${status} ${text}`);
  return json;
}

function publicKeyOf(key) {
  return key ? Object.values(key.keys ?? {})[0] : undefined;
}

async function main() {
  const alice = await participant("alice");
  const bob = await participant("bob");

  const roomId = await checks.step("alice creates a room and invites bob", async () => {
    // Encrypted, so that each SDK tracks the other's devices and identity (and follows device_lists.changed).
    const { room_id: id } = await alice.client.createRoom({
      preset: "private_chat",
      invite: [bob.userId],
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    return id;
  });
  await checks.step("bob joins", async () => {
    await until(() => bob.client.getRoom(roomId)?.getMyMembership() === KnownMembership.Invite, WAIT_MS, "the invite");
    await bob.client.joinRoom(roomId);
    await until(() => bob.client.getCrypto().isEncryptionEnabledInRoom(roomId), WAIT_MS, "the room's encryption in bob's SDK");
  });

  await checks.step("alice bootstraps cross-signing", () =>
    alice.client.getCrypto().bootstrapCrossSigning({ authUploadDeviceSigningKeys: uiaWithPassword(alice) }));
  checks.check("the first upload needs no user-interactive auth", alice.uiaPrompts === 0, `${alice.uiaPrompts} UIA prompts`);
  await checks.attempt("alice's SDK reports cross-signing ready", () =>
    until(() => alice.client.getCrypto().isCrossSigningReady(), WAIT_MS, "isCrossSigningReady()"));

  const first = await query(bob, alice);
  const master = publicKeyOf(first.master_keys?.[alice.userId]);
  const selfSigning = publicKeyOf(first.self_signing_keys?.[alice.userId]);
  checks.check("bob's /keys/query has alice's master and self-signing keys", master && selfSigning, JSON.stringify(first).slice(0, 400));
  checks.check("bob's /keys/query has no user-signing key of alice", !first.user_signing_keys?.[alice.userId],
    JSON.stringify(first.user_signing_keys));
  await checks.attempt("alice's device carries her self-signing key's signature", () =>
    until(async () => (await query(bob, alice)).device_keys?.[alice.userId]?.[alice.deviceId]?.signatures?.[alice.userId]?.[`ed25519:${selfSigning}`],
      WAIT_MS, "the signature in /keys/query"));
  const own = await query(alice, alice);
  checks.check("alice's own /keys/query has her user-signing key", !!own.user_signing_keys?.[alice.userId],
    JSON.stringify(own.user_signing_keys));

  await checks.attempt("alice's SDK trusts her own device through cross-signing", () =>
    until(async () => {
      await alice.client.getCrypto().getUserDeviceInfo([alice.userId], true);
      const status = await alice.client.getCrypto().getDeviceVerificationStatus(alice.userId, alice.deviceId);
      return status?.signedByOwner && status?.crossSigningVerified;
    }, WAIT_MS, "signedByOwner and crossSigningVerified"));
  await checks.attempt("bob's SDK finds alice's device signed by its owner", () =>
    until(async () => {
      await bob.client.getCrypto().getUserDeviceInfo([alice.userId], true);
      const status = await bob.client.getCrypto().getDeviceVerificationStatus(alice.userId, alice.deviceId);
      return status?.signedByOwner;
    }, WAIT_MS, "signedByOwner", async () =>
      JSON.stringify(await bob.client.getCrypto().getDeviceVerificationStatus(alice.userId, alice.deviceId))));
  await checks.attempt("bob's SDK knows alice's identity", () =>
    until(async () => (await bob.client.getCrypto().getUserVerificationStatus(alice.userId)).known, WAIT_MS, "known identity"));

  await checks.step("bob bootstraps cross-signing too", () =>
    bob.client.getCrypto().bootstrapCrossSigning({ authUploadDeviceSigningKeys: uiaWithPassword(bob) }));

  await checks.step("alice resets her cross-signing identity", () =>
    alice.client.getCrypto().bootstrapCrossSigning({ setupNewCrossSigning: true, authUploadDeviceSigningKeys: uiaWithPassword(alice) }));
  checks.check("replacing the keys needed user-interactive auth once", alice.uiaPrompts === 1, `${alice.uiaPrompts} UIA prompts`);
  const second = await query(bob, alice);
  const newMaster = publicKeyOf(second.master_keys?.[alice.userId]);
  checks.check("bob's /keys/query has alice's new master key", newMaster && newMaster !== master, `${master} -> ${newMaster}`);
  await checks.attempt("bob's SDK notices alice's new identity through sync (device_lists.changed)", () =>
    until(async () => (await bob.client.getCrypto().getUserVerificationStatus(alice.userId)).needsUserApproval, WAIT_MS,
      "needsUserApproval", async () => JSON.stringify(await bob.client.getCrypto().getUserVerificationStatus(alice.userId))));
}

await run(main);
