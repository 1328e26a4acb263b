// Helpers for the plain (unencrypted) client scenarios: syncing participants, a shared room, waiting for an event
// in a client's store, a record of what every /sync response carried on the wire, and a store that survives a
// client restart the way a browser's IndexedDB store does.

import { randomBytes } from "node:crypto";
import { ClientEvent, createClient, KnownMembership, MemoryStore, RoomEvent, SyncState } from "matrix-js-sdk";
import { SyncAccumulator } from "matrix-js-sdk/lib/sync-accumulator.js";
import { describeError, sdkLogger, tracingFetch, until } from "./harness.mjs";
import { login, register, uniqueLocalpart } from "./users.mjs";

/** How long one wait for the server may take; the scenarios finish in a few seconds when nothing is wrong. */
export const WAIT_MS = 15_000;

/**
 * A fetch that traces like tracingFetch and also keeps every /sync exchange: the query (`since`, `timeout`,
 * `filter`) and the parsed response. Checks on it see what the server sent, before the SDK dedupes anything.
 */
export function recordingFetch(who) {
  const traced = tracingFetch(who);
  const syncs = [];
  const fetchFn = async (input, init = {}) => {
    const response = await traced(input, init);
    const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url);
    if (url.pathname.endsWith("/sync") && response.ok) {
      const body = await response.clone().json().catch(() => undefined);
      if (body) syncs.push({ since: url.searchParams.get("since"), timeout: url.searchParams.get("timeout"), body });
    }
    return response;
  };
  return { fetchFn, syncs };
}

/**
 * The store of a client that resumes: MemoryStore plus the SDK's SyncAccumulator, like IndexedDBStore keeps it.
 * `snapshot()` is what a browser would have on disk after the client stopped; `new ResumableStore(snapshot)`
 * is that disk read back by the next client, whose first /sync then carries the saved `next_batch` as `since`.
 */
export class ResumableStore extends MemoryStore {
  constructor(saved) {
    super();
    this.accumulator = new SyncAccumulator();
    if (saved) {
      this.accumulator.accumulate(
        { next_batch: saved.nextBatch, rooms: saved.roomsData, account_data: { events: saved.accountData } },
        true,
      );
    }
  }

  async setSyncData(data) {
    this.accumulator.accumulate(data);
  }

  async getSavedSync() {
    const saved = this.accumulator.getJSON();
    return saved.nextBatch ? structuredClone(saved) : null;
  }

  async getSavedSyncToken() {
    return this.accumulator.getNextBatchToken() || null;
  }

  snapshot() {
    return JSON.parse(JSON.stringify(this.accumulator.getJSON(true)));
  }
}

/**
 * Counts, per event ID, how often the SDK put an event into a live timeline (RoomEvent.Timeline, not from
 * back-pagination), in arrival order.
 */
export function timelineCounter(client) {
  const counts = new Map();
  const order = [];
  client.on(RoomEvent.Timeline, (event, _room, toStartOfTimeline, removed) => {
    if (toStartOfTimeline || removed) return;
    const id = event.getId();
    if (!id || id.startsWith("~")) return; // a local echo before the server answered
    counts.set(id, (counts.get(id) ?? 0) + 1);
    order.push(id);
  });
  // A local echo gets its server ID without a second Timeline event: count it when the ID arrives.
  client.on(RoomEvent.LocalEchoUpdated, (event, _room, oldEventId) => {
    const id = event.getId();
    if (typeof oldEventId === "string" && oldEventId.startsWith("~") && id && !id.startsWith("~") && !counts.has(id)) {
      counts.set(id, 1);
      order.push(id);
    }
  });
  return { counts, order };
}

/**
 * Per room, how often each event ID appeared in a joined room's timeline across the recorded /sync responses, in
 * the order the server sent them.
 */
export function wireTimeline(syncs, roomId) {
  const counts = new Map();
  const order = [];
  for (const { body } of syncs) {
    for (const event of body.rooms?.join?.[roomId]?.timeline?.events ?? []) {
      counts.set(event.event_id, (counts.get(event.event_id) ?? 0) + 1);
      order.push(event.event_id);
    }
  }
  return { counts, order };
}

/** Describes which of `ids` a count map holds other than exactly once. */
export function notOnce(ids, counts) {
  const wrong = ids.filter((id) => counts.get(id) !== 1).map((id) => `${id}×${counts.get(id) ?? 0}`);
  return wrong.length === 0 ? "" : `not exactly once: ${wrong.join(", ")}`;
}

/**
 * Registers and logs in one user and makes their client (not started). `options.store` and
 * `options.record` (a recordingFetch is used and kept as `user.syncs`) are for the sync scenarios.
 */
export async function participant({ baseUrl, checks, clients }, base, options = {}) {
  const localpart = uniqueLocalpart(base);
  const password = randomBytes(12).toString("base64url");
  const userId = await checks.step(`${base} registers with m.login.dummy`, () => register(baseUrl, localpart, password));
  const session = await checks.step(`${base} logs in with a password`, () => login(baseUrl, localpart, password));
  checks.check(`${base}'s login names the registered user`, session.userId === userId, `${session.userId} != ${userId}`);
  const user = { name: base, localpart, password, userId, deviceId: session.deviceId, accessToken: session.accessToken };
  user.client = makeClient(baseUrl, user, clients, options);
  return user;
}

/** Another client for an existing session (e.g. a restarted app); `options` as for participant. */
export function makeClient(baseUrl, user, clients, options = {}) {
  const name = options.name ?? user.name;
  let fetchFn = tracingFetch(name);
  if (options.record) {
    const recorder = recordingFetch(name);
    fetchFn = recorder.fetchFn;
    user.syncs = recorder.syncs;
  }
  const client = createClient({
    baseUrl,
    userId: user.userId,
    deviceId: user.deviceId,
    accessToken: user.accessToken,
    fetchFn,
    logger: sdkLogger(name),
    ...(options.store ? { store: options.store } : {}),
  });
  client.on(ClientEvent.Sync, (state, _previous, data) => {
    if (state === SyncState.Error) console.log(`  [${name}] sync error: ${describeError(data?.error)}`);
  });
  clients.push(client);
  return client;
}

/** startClient and wait for the first sync to be processed. */
export async function startSyncing({ checks }, user, client = user.client, label = `${user.name}'s sync loop reaches PREPARED`, opts = {}) {
  await checks.step(label, async () => {
    await client.startClient({ initialSyncLimit: 20, ...opts });
    await until(
      () => [SyncState.Prepared, SyncState.Syncing].includes(client.getSyncState()),
      WAIT_MS,
      "the first sync",
      () => `sync state ${client.getSyncState()}`,
    );
  });
}

/** alice creates a room with `createOptions`, invites bob, bob joins; both clients see the join (each wait up to `waitMs`). */
export async function sharedRoom({ checks, waitMs = WAIT_MS }, alice, bob, label, createOptions = {}) {
  const roomId = await checks.step(`alice creates the ${label} room`, async () => {
    const { room_id: id } = await alice.client.createRoom({ preset: "private_chat", ...createOptions });
    return id;
  });
  await checks.step(`alice invites bob to the ${label} room`, () => alice.client.invite(roomId, bob.userId));
  await checks.step(`bob's sync delivers the invite to the ${label} room`, () =>
    until(() => bob.client.getRoom(roomId)?.getMyMembership() === KnownMembership.Invite, waitMs, "the invite"));
  await checks.step(`bob joins the ${label} room`, () => bob.client.joinRoom(roomId));
  await checks.step(`alice's sync shows bob joined the ${label} room`, () =>
    until(
      () => alice.client.getRoom(roomId)?.getMember(bob.userId)?.membership === KnownMembership.Join,
      waitMs,
      "bob's join in alice's room state",
      () => `bob's membership: ${alice.client.getRoom(roomId)?.getMember(bob.userId)?.membership}`,
    ));
  await checks.step(`bob's sync shows his own join to the ${label} room`, () =>
    until(() => bob.client.getRoom(roomId)?.getMyMembership() === KnownMembership.Join, waitMs, "bob's own join"));
  return roomId;
}

/** Waits until `client`'s store holds `eventId` in `roomId` and returns the MatrixEvent. */
export function eventIn(client, roomId, eventId, what = `event ${eventId}`) {
  return until(() => client.getRoom(roomId)?.findEventById(eventId), WAIT_MS, what);
}

/** A short random suffix for message bodies. */
export function nonce() {
  return randomBytes(4).toString("hex");
}
