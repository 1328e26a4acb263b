// The SDK's own sync loop (startClient) against the homeserver at the base URL given as the first argument:
//
//   node scenarios/client-sync.mjs http://127.0.0.1:8008
//
// alice and bob share a room. A burst of messages (sequential and concurrent, from both, with a state change and a
// reaction) reaches each client exactly once: counted by event ID both in the SDK (RoomEvent.Timeline) and in the raw
// /sync responses, which the SDK would otherwise dedupe silently. Typing (start, stop, expiry) and read receipts
// (public and private) arrive as ephemeral events (RoomMember.typing, Room.receipt). To-device messages (one device,
// all devices, a retried transaction) arrive once through ClientEvent.ToDeviceEvent. Then bob's client stops, alice
// sends while he is away, and a new client for bob resumes from the stored sync token (a store holding the saved sync,
// as a browser's IndexedDB would): everything he missed arrives exactly once and nothing from before comes again.
// Prints one line per check and "N passed, M failed"; exits 0 only when every check passed.

import { ClientEvent, EventType, MsgType, ReceiptType, RelationType, RoomEvent, RoomMemberEvent } from "matrix-js-sdk";
import { rawRequest, until } from "../lib/harness.mjs";
import { scenario } from "../lib/scenario.mjs";
import {
  makeClient, nonce, notOnce, participant, ResumableStore, sharedRoom, startSyncing, timelineCounter, WAIT_MS, wireTimeline,
} from "../lib/rooms.mjs";

const ctx = scenario("scenarios/client-sync.mjs");
const { baseUrl, checks, run } = ctx;

const sameList = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const only = (order, ids) => order.filter((id) => ids.includes(id));

/** Every ephemeral event of `type` for `roomId` across the recorded /sync responses. */
function ephemeral(syncs, roomId, type) {
  return syncs.flatMap(({ body }) => (body.rooms?.join?.[roomId]?.ephemeral?.events ?? []).filter((e) => e.type === type));
}

/** Records the to-device events a client emits (ClientEvent.ToDeviceEvent). */
function toDeviceRecorder(client) {
  const received = [];
  client.on(ClientEvent.ToDeviceEvent, (event) => received.push({ type: event.getType(), sender: event.getSender(), content: event.getContent() }));
  return received;
}

function toDeviceOnWire(syncs, tag) {
  return syncs.flatMap(({ body }) => body.to_device?.events ?? []).filter((e) => e.content?.tag === tag);
}

async function burst(alice, bob, roomId, counters) {
  const tag = nonce();
  const ids = [];
  const sequential = await checks.step("alice sends 10 messages one after the other (text, notice, emote)", async () => {
    const sent = [];
    for (let i = 0; i < 10; i++) {
      const body = `burst ${tag} seq ${i}`;
      const send = [alice.client.sendTextMessage, alice.client.sendNotice, alice.client.sendEmoteMessage][i % 3];
      sent.push((await send.call(alice.client, roomId, body)).event_id);
    }
    return sent;
  });
  ids.push(...sequential);
  const concurrent = await checks.step("alice and bob send 12 messages at the same time", async () => {
    const sends = [];
    for (let i = 0; i < 6; i++) {
      sends.push(alice.client.sendTextMessage(roomId, `burst ${tag} alice parallel ${i}`));
      sends.push(bob.client.sendTextMessage(roomId, `burst ${tag} bob parallel ${i}`));
    }
    return (await Promise.all(sends)).map((r) => r.event_id);
  });
  ids.push(...concurrent);
  const extra = await checks.step("alice changes the topic and bob reacts to her first message", async () => {
    const [topic, reaction] = await Promise.all([
      alice.client.setRoomTopic(roomId, `burst topic ${tag}`),
      bob.client.sendEvent(roomId, EventType.Reaction, {
        "m.relates_to": { rel_type: RelationType.Annotation, event_id: sequential[0], key: "🎉" },
      }),
    ]);
    return [topic.event_id, reaction.event_id];
  });
  ids.push(...extra);
  const { event_id: last } = await checks.step("alice sends a last message", () => alice.client.sendTextMessage(roomId, `burst ${tag} last`));
  ids.push(last);

  for (const user of [alice, bob]) {
    await checks.step(`${user.name}'s sync loop delivers the last message`, () =>
      until(() => user.client.getRoom(roomId)?.findEventById(last), WAIT_MS, "the last burst message"));
  }
  // One more round trip each, so a duplicate the server might still send has had its chance.
  const { event_id: settle } = await alice.client.sendTextMessage(roomId, `burst ${tag} settle`);
  for (const user of [alice, bob]) {
    await until(() => user.client.getRoom(roomId)?.findEventById(settle), WAIT_MS, "the settle message");
  }

  const fromAlice = ids.filter((id) => alice.client.getRoom(roomId)?.findEventById(id)?.getSender() === alice.userId);
  const fromBob = ids.filter((id) => !fromAlice.includes(id));
  checks.check(`bob's SDK put each of alice's ${fromAlice.length} events into its timeline exactly once (Room.timeline)`,
    notOnce(fromAlice, counters.bob.counts) === "", notOnce(fromAlice, counters.bob.counts));
  checks.check(`alice's SDK put each of bob's ${fromBob.length} events into its timeline exactly once (Room.timeline)`,
    notOnce(fromBob, counters.alice.counts) === "", notOnce(fromBob, counters.alice.counts));
  for (const user of [alice, bob]) {
    const wire = wireTimeline(user.syncs, roomId);
    checks.check(`${user.name}'s /sync responses carried each of the ${ids.length} events exactly once`,
      notOnce(ids, wire.counts) === "", notOnce(ids, wire.counts));
    checks.check(`${user.name}'s /sync delivered alice's sequential messages in the order she sent them`,
      sameList(only(wire.order, sequential), sequential), `order ${only(wire.order, sequential).map((id) => sequential.indexOf(id))}`);
  }
  const aliceOrder = only(wireTimeline(alice.syncs, roomId).order, ids);
  const bobOrder = only(wireTimeline(bob.syncs, roomId).order, ids);
  checks.check("alice and bob received the burst in the same order", sameList(aliceOrder, bobOrder));
  // bob's own events sit where their local echo was put when he sent them; alice's are placed as the server sent them.
  const bobTimeline = only(bob.client.getRoom(roomId).getLiveTimeline().getEvents().map((e) => e.getId()), fromAlice);
  checks.check("bob's SDK timeline holds alice's burst events in the order the server sent them",
    sameList(bobTimeline, only(bobOrder, fromAlice)), `${bobTimeline.length} in the timeline, ${only(bobOrder, fromAlice).length} on the wire`);
  checks.check("bob's SDK applied the topic change to the room state",
    bob.client.getRoom(roomId)?.currentState.getStateEvents(EventType.RoomTopic, "")?.getContent().topic === `burst topic ${tag}`);
  return settle;
}

async function typing(alice, bob, roomId) {
  const seen = [];
  bob.client.on(RoomMemberEvent.Typing, (_event, member) => {
    if (member.roomId === roomId && member.userId === alice.userId) seen.push(member.typing);
  });
  const typingOf = (client) => client.getRoom(roomId)?.getMember(alice.userId)?.typing;
  const typingOnWire = (syncs) => ephemeral(syncs, roomId, "m.typing").map((e) => e.content.user_ids ?? []);

  await checks.step("alice starts typing (timeout 20 s)", () => alice.client.sendTyping(roomId, true, 20_000));
  await checks.attempt("bob's SDK emits RoomMember.typing for alice with typing = true", () =>
    until(() => seen.includes(true) && typingOf(bob.client) === true, WAIT_MS, "alice typing in bob's room", () => `seen ${JSON.stringify(seen)}`));
  checks.check("bob's /sync carried an m.typing ephemeral event naming alice",
    typingOnWire(bob.syncs).some((users) => users.includes(alice.userId)), JSON.stringify(typingOnWire(bob.syncs)));
  await checks.attempt("alice's own sync shows her typing too", () =>
    until(() => typingOf(alice.client) === true, WAIT_MS, "alice typing in her own room"));

  const stopsBefore = seen.filter((t) => t === false).length;
  await checks.step("alice stops typing", () => alice.client.sendTyping(roomId, false, 0));
  await checks.attempt("bob's SDK emits RoomMember.typing for alice with typing = false", () =>
    until(() => seen.filter((t) => t === false).length > stopsBefore && typingOf(bob.client) === false, WAIT_MS, "alice to stop typing"));
  checks.check("bob's /sync carried an m.typing event with nobody typing after alice stopped",
    typingOnWire(bob.syncs).at(-1)?.length === 0, JSON.stringify(typingOnWire(bob.syncs).at(-1)));

  // Spec: Client-Server API, "Typing Notifications": the server stops the notification when the timeout passes.
  await checks.step("alice starts typing with a 1 s timeout and says nothing more", () => alice.client.sendTyping(roomId, true, 1_000));
  await checks.attempt("bob sees alice typing", () => until(() => typingOf(bob.client) === true, WAIT_MS, "alice typing again"));
  const started = Date.now();
  await checks.attempt("bob sees alice stop typing when the timeout passes", () =>
    until(() => typingOf(bob.client) === false, WAIT_MS, "the typing notification to expire"));
  checks.check("the notification expired neither early nor much later than 1 s", Date.now() - started < 5_000, `${Date.now() - started} ms`);
}

async function receipts(alice, bob, roomId, settleId) {
  const receiptEvents = [];
  alice.client.on(RoomEvent.Receipt, (event, room) => {
    if (room.roomId === roomId) receiptEvents.push(event.getContent());
  });
  const settle = bob.client.getRoom(roomId).findEventById(settleId);
  await checks.step("bob sends a read receipt for alice's latest message", () => bob.client.sendReadReceipt(settle, ReceiptType.Read));
  await checks.attempt("alice's SDK emits Room.receipt with bob's m.read receipt", () =>
    until(() => receiptEvents.some((c) => c[settleId]?.[ReceiptType.Read]?.[bob.userId]), WAIT_MS, "bob's receipt",
      () => JSON.stringify(receiptEvents)));
  checks.check("alice's SDK says bob has read up to that message", alice.client.getRoom(roomId)?.getEventReadUpTo(bob.userId) === settleId,
    `read up to ${alice.client.getRoom(roomId)?.getEventReadUpTo(bob.userId)}`);
  const onWire = ephemeral(alice.syncs, roomId, "m.receipt").filter((e) => e.content[settleId]?.[ReceiptType.Read]?.[bob.userId]);
  checks.check("alice's /sync carried an m.receipt ephemeral event with bob's receipt and its ts",
    onWire.length > 0 && typeof onWire[0].content[settleId][ReceiptType.Read][bob.userId].ts === "number", JSON.stringify(onWire));

  // A private receipt reaches only its owner (Spec: "Private read receipts": servers MUST NOT send it to others).
  const { event_id: privateTarget } = await checks.step("alice sends another message", () => alice.client.sendTextMessage(roomId, `receipt target ${nonce()}`));
  const target = await until(() => bob.client.getRoom(roomId)?.findEventById(privateTarget), WAIT_MS, "the receipt target");
  await checks.step("bob marks it read privately (m.read.private)", () => bob.client.sendReadReceipt(target, ReceiptType.ReadPrivate));
  await checks.attempt("bob's own /sync carries his m.read.private receipt", () =>
    until(() => ephemeral(bob.syncs, roomId, "m.receipt").some((e) => e.content[privateTarget]?.[ReceiptType.ReadPrivate]?.[bob.userId]),
      WAIT_MS, "the private receipt in bob's sync"));
  const { event_id: publicTarget } = await checks.step("alice sends one more message", () => alice.client.sendTextMessage(roomId, `public target ${nonce()}`));
  const target2 = await until(() => bob.client.getRoom(roomId)?.findEventById(publicTarget), WAIT_MS, "the second receipt target");
  await checks.step("bob marks that one read publicly", () => bob.client.sendReadReceipt(target2, ReceiptType.Read));
  await checks.attempt("alice's SDK moves bob's read marker to the newer message", () =>
    until(() => alice.client.getRoom(roomId)?.getEventReadUpTo(bob.userId) === publicTarget, WAIT_MS, "bob's newer receipt"));
  checks.check("alice's /sync never carried bob's private receipt",
    !alice.syncs.some(({ body }) => JSON.stringify(body.rooms ?? {}).includes(ReceiptType.ReadPrivate)));
}

async function toDevice(alice, bob, bobReceived, aliceReceived) {
  const type = "org.interop.ping";
  const tag = nonce();
  const message = (n) => ({ tag, n });
  const to = (deviceId, n) => new Map([[bob.userId, new Map([[deviceId, message(n)]])]]);
  const got = (n) => bobReceived.filter((e) => e.type === type && e.content.tag === tag && e.content.n === n);

  await checks.step("alice sends a to-device message to bob's device", () => alice.client.sendToDevice(type, to(bob.deviceId, 1)));
  await checks.attempt("bob's SDK emits ClientEvent.ToDeviceEvent with the message from alice", () =>
    until(() => got(1).some((e) => e.sender === alice.userId), WAIT_MS, "the to-device message", () => JSON.stringify(bobReceived)));
  await checks.step("alice sends one to all of bob's devices (*)", () => alice.client.sendToDevice(type, to("*", 2)));
  await checks.attempt("bob receives the message sent to *", () => until(() => got(2).length > 0, WAIT_MS, "the * message"));
  const txnId = `interop-${tag}`;
  await checks.step("alice sends a message and retries it with the same transaction ID", async () => {
    await alice.client.sendToDevice(type, to(bob.deviceId, 3), txnId);
    await alice.client.sendToDevice(type, to(bob.deviceId, 3), txnId);
  });
  await checks.step("alice sends a last to-device message", () => alice.client.sendToDevice(type, to(bob.deviceId, 4)));
  await checks.attempt("bob receives the last one", () => until(() => got(4).length > 0, WAIT_MS, "the last to-device message"));
  checks.check("bob's SDK got each to-device message exactly once (the retried transaction too)",
    [1, 2, 3, 4].every((n) => got(n).length === 1), JSON.stringify([1, 2, 3, 4].map((n) => got(n).length)));
  const wire = toDeviceOnWire(bob.syncs, tag);
  checks.check("bob's /sync responses carried each to-device message once", wire.length === 4,
    JSON.stringify(wire.map((e) => e.content.n)));
  checks.check("alice's own client received none of them", !aliceReceived.some((e) => e.content.tag === tag));
}

async function resume(alice, bob, roomId, store) {
  const name = bob.client.getRoom(roomId)?.name;
  const before = bob.client.getRoom(roomId).getLiveTimeline().getEvents().map((e) => e.getId());
  await checks.step("bob's client stops", async () => {
    bob.client.stopClient();
    await new Promise((resolve) => setTimeout(resolve, 100));
  });
  const token = await store.getSavedSyncToken();
  checks.check("bob's store holds the last next_batch the client processed",
    typeof token === "string" && token === bob.client.store.getSyncToken(), `saved ${token}, client ${bob.client.store.getSyncToken()}`);
  const snapshot = store.snapshot();

  const tag = nonce();
  const missed = await checks.step("alice sends 5 messages, a topic change and a reaction while bob is away", async () => {
    const sent = [];
    for (let i = 0; i < 5; i++) sent.push((await alice.client.sendTextMessage(roomId, `missed ${tag} ${i}`)).event_id);
    sent.push((await alice.client.setRoomTopic(roomId, `topic while away ${tag}`)).event_id);
    sent.push((await alice.client.sendEvent(roomId, EventType.Reaction, {
      "m.relates_to": { rel_type: RelationType.Annotation, event_id: sent[0], key: "👀" },
    })).event_id);
    return sent;
  });
  await checks.step("alice sends bob's device a to-device message while he is away", () =>
    alice.client.sendToDevice("org.interop.away", new Map([[bob.userId, new Map([[bob.deviceId, { tag }]])]])));

  // The wire answer for the saved token, independent of the SDK.
  const raw = await rawRequest(baseUrl, bob.accessToken, "GET", `/_matrix/client/v3/sync?since=${encodeURIComponent(token)}&timeout=0`);
  const rawTimeline = raw.json?.rooms?.join?.[roomId]?.timeline;
  checks.check("a raw /sync?since=<saved token> returns exactly the missed events, in order, not limited",
    raw.status === 200 && rawTimeline?.limited === false && sameList((rawTimeline?.events ?? []).map((e) => e.event_id), missed),
    `${raw.status} limited ${rawTimeline?.limited}, ${(rawTimeline?.events ?? []).length} events: ${JSON.stringify((rawTimeline?.events ?? []).map((e) => e.event_id))}`);
  checks.check("the raw /sync carries the to-device message sent while bob was away",
    (raw.json?.to_device?.events ?? []).some((e) => e.type === "org.interop.away" && e.content?.tag === tag && e.sender === alice.userId),
    JSON.stringify(raw.json?.to_device));

  // A new client resumes from the store (as after a page reload). The raw request above did not acknowledge anything:
  // the to-device message must come again for the same token.
  const resumedStore = new ResumableStore(snapshot);
  const resumed = { ...bob };
  const client = makeClient(baseUrl, resumed, ctx.clients, { name: "bob (resumed)", record: true, store: resumedStore });
  const counter = timelineCounter(client);
  const received = toDeviceRecorder(client);
  await startSyncing(ctx, resumed, client, "a new client for bob resumes from the stored sync");
  // PREPARED comes from the stored sync already; the first /sync answer may still be on its way.
  await checks.attempt("the resumed client's first /sync carries the saved token as since", () =>
    until(() => resumed.syncs.length > 0, WAIT_MS, "the first /sync answer").then(() => {
      if (resumed.syncs[0].since !== token) throw new Error(`first since ${resumed.syncs[0].since}, saved ${token}`);
    }));
  await checks.attempt("the resumed client receives the last missed event", () =>
    until(() => client.getRoom(roomId)?.findEventById(missed.at(-1)), WAIT_MS, "the last missed event"));
  checks.check("the resumed client knows the room from its store (name)", client.getRoom(roomId)?.name === name,
    `${JSON.stringify(client.getRoom(roomId)?.name)} != ${JSON.stringify(name)}`);
  checks.check("the resumed client's SDK put each missed event into its timeline exactly once",
    notOnce(missed, counter.counts) === "", notOnce(missed, counter.counts));
  const wire = wireTimeline(resumed.syncs, roomId);
  checks.check("the resumed client's /sync responses carried each missed event exactly once",
    notOnce(missed, wire.counts) === "", notOnce(missed, wire.counts));
  const again = before.filter((id) => wire.counts.has(id));
  checks.check("no event from before the stop came from the server again", again.length === 0, `again: ${again.join(", ")}`);
  checks.check("the resumed client shows the topic changed while away",
    client.getRoom(roomId)?.currentState.getStateEvents(EventType.RoomTopic, "")?.getContent().topic === `topic while away ${tag}`);
  await checks.attempt("the resumed client receives the to-device message sent while away", () =>
    until(() => received.some((e) => e.type === "org.interop.away" && e.content.tag === tag), WAIT_MS, "the away to-device message"));

  const { event_id: live } = await checks.step("alice sends a message after bob is back", () => alice.client.sendTextMessage(roomId, `welcome back ${tag}`));
  await checks.attempt("the resumed client's sync loop delivers it live", () =>
    until(() => client.getRoom(roomId)?.findEventById(live), WAIT_MS, "the live message"));
  const event = client.getRoom(roomId)?.findEventById(live);
  checks.check("the live message is an m.text from alice", event?.getContent().msgtype === MsgType.Text && event.getSender() === alice.userId);
  checks.check("the to-device message sent while away arrived once", received.filter((e) => e.content.tag === tag).length === 1,
    `${received.filter((e) => e.content.tag === tag).length} times`);
  checks.check("every event reached the resumed client once", [...counter.counts.values()].every((n) => n === 1),
    [...counter.counts].filter(([, n]) => n !== 1).map(([id, n]) => `${id}×${n}`).join(", "));
}

async function main() {
  const store = new ResumableStore();
  const alice = await participant(ctx, "alice", { record: true });
  const bob = await participant(ctx, "bob", { record: true, store });
  const counters = { alice: timelineCounter(alice.client), bob: timelineCounter(bob.client) };
  const aliceToDevice = toDeviceRecorder(alice.client);
  const bobToDevice = toDeviceRecorder(bob.client);
  await startSyncing(ctx, alice);
  await startSyncing(ctx, bob);
  const roomId = await sharedRoom(ctx, alice, bob, "sync", { name: `interop sync ${nonce()}` });

  const settle = await burst(alice, bob, roomId, counters);
  await typing(alice, bob, roomId);
  await receipts(alice, bob, roomId, settle);
  await toDevice(alice, bob, bobToDevice, aliceToDevice);
  await resume(alice, bob, roomId, store);
}

await run(main);
