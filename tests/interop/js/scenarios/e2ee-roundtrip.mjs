// End-to-end encryption between two matrix-js-sdk clients with the Rust crypto stack (WebAssembly),
// against the homeserver at the base URL given as the first argument:
//
//   node scenarios/e2ee-roundtrip.mjs http://127.0.0.1:8008
//
// alice and bob register (m.login.dummy), log in, set up crypto with an in-memory store and sync.
// A plain room first proves the harness (rooms, invites, sync) without crypto; then alice creates a
// megolm room, bob joins, and each sends an encrypted message the other decrypts. Prints one line
// per check and "N passed, M failed"; exits 0 only when every check passed.

import { randomBytes } from "node:crypto";
import { ClientEvent, EventType, SyncState } from "matrix-js-sdk";
import { describeError, rawRequest, until, withTimeout } from "../lib/harness.mjs";
import { sharedRoom } from "../lib/rooms.mjs";
import { scenario } from "../lib/scenario.mjs";
import { clientFor, login, register, uniqueLocalpart } from "../lib/users.mjs";

const WAIT_MS = 30_000;
const MEGOLM = "m.megolm.v1.aes-sha2";

const { baseUrl, checks, clients, run } = scenario("scenarios/e2ee-roundtrip.mjs");

/** One participant: an SDK client with Rust crypto, syncing. */
async function participant(base) {
  const localpart = uniqueLocalpart(base);
  const password = randomBytes(12).toString("base64url");
  const userId = await checks.step(`${base} registers with m.login.dummy`, () => register(baseUrl, localpart, password));
  const session = await checks.step(`${base} logs in with a password`, () => login(baseUrl, localpart, password));
  checks.check(`${base}'s login names the registered user`, session.userId === userId, `${session.userId} != ${userId}`);
  const client = clientFor(baseUrl, base, session);
  clients.push(client);
  client.on(ClientEvent.Sync, (state, _previous, data) => {
    if (state === SyncState.Error) console.log(`  [${base}] sync error: ${describeError(data?.error)}`);
  });
  await checks.step(`${base} initialises Rust crypto (in-memory store)`, async () => {
    await client.initRustCrypto({ useIndexedDB: false });
    if (!client.getCrypto()) throw new Error("getCrypto() is undefined after initRustCrypto");
  });
  return { name: base, client, userId, deviceId: session.deviceId, accessToken: session.accessToken };
}

async function startSyncing(user) {
  await checks.step(`${user.name}'s sync loop reaches PREPARED`, async () => {
    await user.client.startClient({ initialSyncLimit: 20 });
    await until(
      () => [SyncState.Prepared, SyncState.Syncing].includes(user.client.getSyncState()),
      WAIT_MS,
      "the first sync",
      () => `sync state ${user.client.getSyncState()}`,
    );
  });
}

/** Waits until `receiver`'s sync has delivered `eventId` and the SDK has finished decrypting it (if encrypted). */
async function receive(receiver, roomId, eventId, expectClearType) {
  const event = await until(() => receiver.client.getRoom(roomId)?.findEventById(eventId), WAIT_MS, `event ${eventId} in ${receiver.name}'s timeline`);
  await until(
    () => !event.isBeingDecrypted() && !event.isDecryptionFailure() && event.getType() === expectClearType,
    WAIT_MS,
    `${receiver.name} to decrypt ${eventId}`,
    () => `type ${event.getType()}, wire type ${event.getWireType()}, decryption failure: ${event.decryptionFailureReason ?? "none"}`,
  );
  return event;
}

async function plainExchange(alice, bob) {
  const roomId = await sharedRoom({ checks, waitMs: WAIT_MS }, alice, bob, "plain", { name: "interop plain", initial_state: [] });
  const text = `plain hello ${randomBytes(4).toString("hex")}`;
  const { event_id: eventId } = await checks.step("alice sends a plain message", () =>
    alice.client.sendMessage(roomId, { msgtype: "m.text", body: text }));
  const event = await checks.step("bob's sync delivers the plain message", () => receive(bob, roomId, eventId, EventType.RoomMessage));
  checks.check("the plain message arrives unencrypted with its text", event.getWireType() === EventType.RoomMessage && event.getContent().body === text,
    `wire type ${event.getWireType()}, body ${JSON.stringify(event.getContent().body)}`);
}

/** The device keys of `owner` as the server returns them to `asker` (raw POST /keys/query), and its OTK count. */
async function publishedKeys(owner, asker) {
  const own = await owner.client.getCrypto().getOwnDeviceKeys();
  await checks.attempt(`${owner.name}'s device keys are published (POST /keys/query by ${asker.name})`, () =>
    until(
      async () => {
        const { status, json } = await rawRequest(baseUrl, asker.accessToken, "POST", "/_matrix/client/v3/keys/query", { device_keys: { [owner.userId]: [] } });
        const device = status === 200 ? json?.device_keys?.[owner.userId]?.[owner.deviceId] : undefined;
        return device?.keys?.[`ed25519:${owner.deviceId}`] === own.ed25519 &&
          device?.keys?.[`curve25519:${owner.deviceId}`] === own.curve25519 &&
          device?.algorithms?.includes(MEGOLM) &&
          device?.signatures?.[owner.userId]?.[`ed25519:${owner.deviceId}`] !== undefined;
      },
      WAIT_MS,
      `${owner.name}'s signed device keys in /keys/query`,
      async () => {
        const { status, text } = await rawRequest(baseUrl, asker.accessToken, "POST", "/_matrix/client/v3/keys/query", { device_keys: { [owner.userId]: [] } });
        return `last answer ${status} ${text.slice(0, 400)}`;
      },
    ));
  await checks.attempt(`${owner.name}'s one-time keys are on the server (POST /keys/upload counts)`, () =>
    until(
      async () => {
        const { status, json } = await rawRequest(baseUrl, owner.accessToken, "POST", "/_matrix/client/v3/keys/upload", {});
        return status === 200 && (json?.one_time_key_counts?.signed_curve25519 ?? 0) > 0;
      },
      WAIT_MS,
      `a signed_curve25519 count above 0 for ${owner.name}`,
      async () => {
        const { status, text } = await rawRequest(baseUrl, owner.accessToken, "POST", "/_matrix/client/v3/keys/upload", {});
        return `last answer ${status} ${text.slice(0, 400)}`;
      },
    ));
  await checks.attempt(`${asker.name}'s SDK knows ${owner.name}'s device with the right keys`, () =>
    until(
      async () => {
        const devices = await asker.client.getCrypto().getUserDeviceInfo([owner.userId], true);
        const device = devices.get(owner.userId)?.get(owner.deviceId);
        return device?.getFingerprint() === own.ed25519 && device?.getIdentityKey() === own.curve25519;
      },
      WAIT_MS,
      `${owner.name}'s device in ${asker.name}'s device list`,
    ));
}

async function encryptedMessage(sender, receiver, roomId, text) {
  const { event_id: eventId } = await checks.step(`${sender.name} sends an encrypted message`, () =>
    withTimeout(sender.client.sendMessage(roomId, { msgtype: "m.text", body: text }), WAIT_MS, "the encrypted send"));

  const stored = await rawRequest(baseUrl, receiver.accessToken, "GET",
    `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(eventId)}`);
  checks.check(`the server holds ${sender.name}'s message as m.room.encrypted megolm ciphertext only`,
    stored.status === 200 && stored.json?.type === EventType.RoomMessageEncrypted && stored.json?.content?.algorithm === MEGOLM &&
      typeof stored.json?.content?.ciphertext === "string" && !stored.text.includes(text),
    `GET /rooms/{roomId}/event/{eventId} -> ${stored.status} ${stored.text.slice(0, 400)}`);

  const event = await checks.step(`${receiver.name} receives and decrypts ${sender.name}'s message`, () =>
    receive(receiver, roomId, eventId, EventType.RoomMessage));
  checks.check(`${receiver.name} received it as m.room.encrypted (${MEGOLM}) on the wire`,
    event.isEncrypted() && event.getWireType() === EventType.RoomMessageEncrypted && event.getWireContent().algorithm === MEGOLM,
    `wire type ${event.getWireType()}, algorithm ${event.getWireContent().algorithm}`);
  checks.check(`${receiver.name}'s clear text equals what ${sender.name} sent`, event.getContent().body === text,
    `${JSON.stringify(event.getContent().body)} != ${JSON.stringify(text)}`);
  const senderKeys = await sender.client.getCrypto().getOwnDeviceKeys();
  checks.check(`${receiver.name} attributes the message to ${sender.name}'s device keys`,
    event.getSender() === sender.userId && event.getClaimedEd25519Key() === senderKeys.ed25519 && event.getSenderKey() === senderKeys.curve25519,
    `sender ${event.getSender()}, claimed ed25519 ${event.getClaimedEd25519Key()}, sender key ${event.getSenderKey()}`);
}

async function main() {
  const alice = await participant("alice");
  const bob = await participant("bob");
  await startSyncing(alice);
  await startSyncing(bob);

  await plainExchange(alice, bob);

  await publishedKeys(alice, bob);
  await publishedKeys(bob, alice);

  const encryption = { type: EventType.RoomEncryption, state_key: "", content: { algorithm: MEGOLM } };
  const roomId = await sharedRoom({ checks, waitMs: WAIT_MS }, alice, bob, "encrypted", { name: "interop encrypted", initial_state: [encryption] });
  for (const user of [alice, bob]) {
    await checks.step(`${user.name}'s SDK treats the room as encrypted`, () =>
      until(() => user.client.getCrypto().isEncryptionEnabledInRoom(roomId), WAIT_MS, "m.room.encryption in the room state"));
  }

  await encryptedMessage(alice, bob, roomId, `secret from alice ${randomBytes(4).toString("hex")}`);
  await encryptedMessage(bob, alice, roomId, `secret reply from bob ${randomBytes(4).toString("hex")}`);
}

await run(main);
