// Everyday client use through matrix-js-sdk (no encryption), against the homeserver at the base URL given as the
// first argument:
//
//   node scenarios/client-basics.mjs http://127.0.0.1:8008
//
// alice and bob register, log in and sync. Profile (set, read back, seen by the other user in the room), a room with
// name and topic, invite and join, m.text / m.notice / m.emote, an edit (m.replace), a reaction (m.annotation), a
// redaction, tags and account data (global and per room), /messages pagination (backwards and forwards with a small
// limit, and the SDK's scrollback), room state and members, leave and re-join. Each check is answered by what the
// SDK shows (its sync-fed store or its API call), and where the spec fixes the wire format, by the raw response too.
// Prints one line per check and "N passed, M failed"; exits 0 only when every check passed.

import { Direction, EventType, KnownMembership, Method, MsgType, RelationType } from "matrix-js-sdk";
import { until } from "../lib/harness.mjs";
import { scenario } from "../lib/scenario.mjs";
import { eventIn, makeClient, nonce, participant, sharedRoom, startSyncing, WAIT_MS } from "../lib/rooms.mjs";

const ctx = scenario("scenarios/client-basics.mjs");
const { checks, run } = ctx;

/** The HTTP status and errcode of a rejected SDK call (or "resolved" when it did not fail). */
async function failureOf(promise) {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return `${error.httpStatus} ${error.errcode}`;
  }
}

function topicOf(client, roomId) {
  return client.getRoom(roomId)?.currentState.getStateEvents(EventType.RoomTopic, "")?.getContent().topic;
}

async function profile(alice, bob) {
  const displayName = `Alice ${nonce()}`;
  const avatarUrl = `mxc://localhost/avatar${nonce()}`;
  await checks.step("alice sets her display name", () => alice.client.setDisplayName(displayName));
  await checks.step("alice sets her avatar URL", () => alice.client.setAvatarUrl(avatarUrl));
  const own = await checks.step("alice reads her profile back (getProfileInfo)", () => alice.client.getProfileInfo(alice.userId));
  checks.check("alice's profile has the display name and avatar URL she set",
    own.displayname === displayName && own.avatar_url === avatarUrl, JSON.stringify(own));
  const field = await checks.step("alice reads her display name field alone", () => alice.client.getProfileInfo(alice.userId, "displayname"));
  checks.check("the display name field answers only { displayname }",
    field.displayname === displayName && !("avatar_url" in field), JSON.stringify(field));
  const seen = await checks.step("bob reads alice's profile", () => bob.client.getProfileInfo(alice.userId));
  checks.check("bob sees alice's display name and avatar URL", seen.displayname === displayName && seen.avatar_url === avatarUrl,
    JSON.stringify(seen));
  return { displayName, avatarUrl };
}

async function roomWithNameAndTopic(alice, bob) {
  const name = `interop basics ${nonce()}`;
  const topic = `what this room is for ${nonce()}`;
  const roomId = await sharedRoom(ctx, alice, bob, "basics", { name, topic });
  for (const user of [alice, bob]) {
    checks.check(`${user.name}'s SDK shows the room's name and topic`,
      user.client.getRoom(roomId)?.name === name && topicOf(user.client, roomId) === topic,
      `name ${JSON.stringify(user.client.getRoom(roomId)?.name)}, topic ${JSON.stringify(topicOf(user.client, roomId))}`);
  }
  return { roomId, name, topic };
}

async function inviteDetails(alice, bob, roomId, name) {
  // sharedRoom waited for the invite; bob's client still has the invite event in the room's history.
  const room = bob.client.getRoom(roomId);
  const invite = room?.getLiveTimeline().getEvents().find((e) =>
    e.getType() === EventType.RoomMember && e.getStateKey() === bob.userId && e.getContent().membership === KnownMembership.Invite);
  checks.check("bob's timeline has alice's invite for him", invite?.getSender() === alice.userId,
    `invite ${invite ? `from ${invite.getSender()}` : "missing"}`);
  checks.check("bob's SDK names the room after joining", room?.name === name, `name ${JSON.stringify(room?.name)}`);
}

async function profileInRoom(alice, bob, roomId, { displayName, avatarUrl }) {
  const member = bob.client.getRoom(roomId)?.getMember(alice.userId);
  checks.check("bob's SDK shows alice in the room with her display name and avatar",
    member?.name === displayName && member?.getMxcAvatarUrl() === avatarUrl,
    `name ${JSON.stringify(member?.name)}, avatar ${JSON.stringify(member?.getMxcAvatarUrl())}`);

  // Spec: Client-Server API, "Events on Change of Profile Information": a new m.room.member join in every room.
  const bobName = `Bob ${nonce()}`;
  await checks.step("bob changes his display name while in the room", () => bob.client.setDisplayName(bobName));
  await checks.attempt("alice's SDK shows bob's new display name in the room (m.room.member update)", () =>
    until(() => alice.client.getRoom(roomId)?.getMember(bob.userId)?.name === bobName, WAIT_MS, "bob's new name in alice's room",
      () => `bob's member name ${JSON.stringify(alice.client.getRoom(roomId)?.getMember(bob.userId)?.name)}`));
  checks.check("bob is still joined after the profile change",
    alice.client.getRoom(roomId)?.getMember(bob.userId)?.membership === KnownMembership.Join);
  return bobName;
}

async function messages(alice, bob, roomId) {
  const kinds = [
    { msgtype: MsgType.Text, send: (body) => alice.client.sendTextMessage(roomId, body) },
    { msgtype: MsgType.Notice, send: (body) => alice.client.sendNotice(roomId, body) },
    { msgtype: MsgType.Emote, send: (body) => alice.client.sendEmoteMessage(roomId, body) },
  ];
  const sent = {};
  for (const kind of kinds) {
    const body = `${kind.msgtype} from alice ${nonce()}`;
    const { event_id: eventId } = await checks.step(`alice sends an ${kind.msgtype} message`, () => kind.send(body));
    const event = await checks.step(`bob's sync delivers the ${kind.msgtype} message`, () => eventIn(bob.client, roomId, eventId));
    checks.check(`bob sees the ${kind.msgtype} message from alice with its body`,
      event.getType() === EventType.RoomMessage && event.getContent().msgtype === kind.msgtype &&
        event.getContent().body === body && event.getSender() === alice.userId,
      `type ${event.getType()}, content ${JSON.stringify(event.getContent())}, sender ${event.getSender()}`);
    sent[kind.msgtype] = { eventId, body };
  }
  return sent;
}

async function edit(alice, bob, roomId, original) {
  const newBody = `edited text ${nonce()}`;
  const { event_id: editId } = await checks.step("alice edits her m.text message (m.replace)", () =>
    alice.client.sendEvent(roomId, EventType.RoomMessage, {
      msgtype: MsgType.Text,
      body: `* ${newBody}`,
      "m.new_content": { msgtype: MsgType.Text, body: newBody },
      "m.relates_to": { rel_type: RelationType.Replace, event_id: original.eventId },
    }));
  await checks.attempt("bob's SDK applies the edit to the original message", () =>
    until(async () => {
      const event = bob.client.getRoom(roomId)?.findEventById(original.eventId);
      return event?.replacingEventId() === editId && event.getContent().body === newBody;
    }, WAIT_MS, "the replacement on the original", () => {
      const event = bob.client.getRoom(roomId)?.findEventById(original.eventId);
      return `replacing ${event?.replacingEventId()}, body ${JSON.stringify(event?.getContent().body)}`;
    }));

  // Spec: Client-Server API, "Server-side aggregation of m.replace relationships" (v1.7): the most recent
  // replacement is bundled in unsigned.m.relations of the original.
  const raw = await checks.step("bob fetches the original message (GET /rooms/{roomId}/event/{eventId})", () =>
    bob.client.fetchRoomEvent(roomId, original.eventId));
  checks.check("the original keeps its own content and bundles the edit in unsigned.m.relations.m.replace",
    raw.content?.body === original.body && raw.unsigned?.["m.relations"]?.["m.replace"]?.event_id === editId,
    JSON.stringify({ content: raw.content, unsigned: raw.unsigned }));
  const relations = await checks.step("bob lists the replacements (GET /relations/{eventId}/m.replace)", () =>
    bob.client.relations(roomId, original.eventId, RelationType.Replace));
  checks.check("the relations API returns exactly the edit",
    relations.events.length === 1 && relations.events[0].getId() === editId,
    `events ${JSON.stringify(relations.events.map((e) => e.getId()))}`);
}

async function reaction(alice, bob, roomId, target) {
  const key = "👍";
  const { event_id: reactionId } = await checks.step("bob reacts to alice's notice (m.annotation)", () =>
    bob.client.sendEvent(roomId, EventType.Reaction, {
      "m.relates_to": { rel_type: RelationType.Annotation, event_id: target.eventId, key },
    }));
  const annotations = () =>
    alice.client.getRoom(roomId)?.relations.getChildEventsForEvent(target.eventId, RelationType.Annotation, EventType.Reaction)
      ?.getSortedAnnotationsByKey() ?? [];
  await checks.attempt("alice's SDK aggregates bob's reaction under the notice", () =>
    until(() => annotations().some(([k, events]) => k === key && [...events].some((e) => e.getId() === reactionId && e.getSender() === bob.userId)),
      WAIT_MS, "the annotation in alice's relations", () => `annotations ${JSON.stringify(annotations().map(([k, s]) => [k, s.size]))}`));
  const listed = await checks.step("alice lists the annotations (GET /relations/{eventId}/m.annotation/m.reaction)", () =>
    alice.client.relations(roomId, target.eventId, RelationType.Annotation, EventType.Reaction));
  checks.check("the relations API returns bob's reaction with its key",
    listed.events.length === 1 && listed.events[0].getId() === reactionId && listed.events[0].getRelation()?.key === key,
    `events ${JSON.stringify(listed.events.map((e) => [e.getId(), e.getRelation()?.key]))}`);

  await checks.step("bob takes his reaction back (redaction)", () => bob.client.redactEvent(roomId, reactionId));
  await checks.attempt("alice's SDK drops the redacted reaction from the aggregation", () =>
    until(() => !annotations().some(([k, events]) => k === key && events.size > 0), WAIT_MS, "the annotation to disappear",
      () => `annotations ${JSON.stringify(annotations().map(([k, s]) => [k, s.size]))}`));
  const after = await checks.step("alice lists the annotations again", () =>
    alice.client.relations(roomId, target.eventId, RelationType.Annotation, EventType.Reaction));
  checks.check("the relations API no longer returns the redacted reaction",
    !after.events.some((e) => e.getId() === reactionId && !e.isRedacted()),
    `events ${JSON.stringify(after.events.map((e) => [e.getId(), e.isRedacted()]))}`);
}

async function redaction(alice, bob, roomId, target) {
  const reason = `interop redaction ${nonce()}`;
  const { event_id: redactionId } = await checks.step("alice redacts her emote with a reason", () =>
    alice.client.redactEvent(roomId, target.eventId, undefined, { reason }));
  await checks.attempt("bob's SDK shows the emote redacted, its content gone", () =>
    until(() => {
      const event = bob.client.getRoom(roomId)?.findEventById(target.eventId);
      return event?.isRedacted() && Object.keys(event.getContent()).length === 0;
    }, WAIT_MS, "the redaction to apply", () => JSON.stringify(bob.client.getRoom(roomId)?.findEventById(target.eventId)?.getContent())));
  const redactionEvent = bob.client.getRoom(roomId)?.findEventById(redactionId);
  checks.check("bob received the m.room.redaction with the reason",
    redactionEvent?.getType() === EventType.RoomRedaction && redactionEvent.getContent().reason === reason &&
      (redactionEvent.event.redacts ?? redactionEvent.getContent().redacts) === target.eventId,
    JSON.stringify(redactionEvent?.event));
  const raw = await checks.step("bob fetches the redacted emote from the server", () => bob.client.fetchRoomEvent(roomId, target.eventId));
  checks.check("the server serves the emote redacted, with unsigned.redacted_because",
    Object.keys(raw.content ?? {}).length === 0 && raw.unsigned?.redacted_because?.event_id === redactionId,
    JSON.stringify({ content: raw.content, unsigned: raw.unsigned }));
}

async function tagsAndAccountData(alice, bob, roomId) {
  const roomOf = () => alice.client.getRoom(roomId);
  await checks.step("alice tags the room m.favourite with an order", () => alice.client.setRoomTag(roomId, "m.favourite", { order: 0.25 }));
  await checks.step("alice adds a user tag u.interop", () => alice.client.setRoomTag(roomId, "u.interop", {}));
  const tags = await checks.step("alice reads the room's tags (GET .../tags)", () => alice.client.getRoomTags(roomId));
  checks.check("the tags answer has both tags and the order",
    tags.tags?.["m.favourite"]?.order === 0.25 && tags.tags?.["u.interop"] !== undefined, JSON.stringify(tags));
  await checks.attempt("alice's sync delivers the tags (m.tag room account data)", () =>
    until(() => roomOf()?.tags?.["m.favourite"]?.order === 0.25 && roomOf()?.tags?.["u.interop"] !== undefined, WAIT_MS,
      "both tags in the room", () => JSON.stringify(roomOf()?.tags)));
  await checks.step("alice removes the u.interop tag", () => alice.client.deleteRoomTag(roomId, "u.interop"));
  const remaining = await checks.step("alice reads the tags again", () => alice.client.getRoomTags(roomId));
  checks.check("only m.favourite is left", Object.keys(remaining.tags ?? {}).join() === "m.favourite", JSON.stringify(remaining));
  await checks.attempt("alice's sync drops the removed tag", () =>
    until(() => roomOf()?.tags?.["u.interop"] === undefined && roomOf()?.tags?.["m.favourite"] !== undefined, WAIT_MS,
      "u.interop to disappear", () => JSON.stringify(roomOf()?.tags)));

  const globalType = "org.interop.global";
  const first = { value: nonce() };
  const second = { value: nonce(), nested: { list: [1, 2, 3] } };
  await checks.step("alice sets global account data", () => alice.client.setAccountData(globalType, first));
  await checks.attempt("alice's sync delivers the global account data", () =>
    until(() => alice.client.getAccountData(globalType)?.getContent().value === first.value, WAIT_MS, "the account data event"));
  await checks.step("alice replaces the global account data", () => alice.client.setAccountData(globalType, second));
  await checks.attempt("alice's sync delivers the replacement", () =>
    until(() => JSON.stringify(alice.client.getAccountData(globalType)?.getContent()) === JSON.stringify(second), WAIT_MS,
      "the new content", () => JSON.stringify(alice.client.getAccountData(globalType)?.getContent())));
  const fromServer = await checks.step("alice reads it from the server (getAccountDataFromServer)", () =>
    alice.client.getAccountDataFromServer(globalType));
  checks.check("the server answers the latest global content", JSON.stringify(fromServer) === JSON.stringify(second), JSON.stringify(fromServer));

  const roomType = "org.interop.room";
  const roomContent = { value: nonce() };
  await checks.step("alice sets room account data", () => alice.client.setRoomAccountData(roomId, roomType, roomContent));
  await checks.attempt("alice's sync delivers the room account data into the room", () =>
    until(() => roomOf()?.getAccountData(roomType)?.getContent().value === roomContent.value, WAIT_MS, "the room account data"));
  const roomPath = `/user/${encodeURIComponent(alice.userId)}/rooms/${encodeURIComponent(roomId)}/account_data/${roomType}`;
  const roomRaw = await checks.step("alice reads the room account data from the server", () =>
    alice.client.http.authedRequest(Method.Get, roomPath));
  checks.check("the server answers the room account data content", roomRaw?.value === roomContent.value, JSON.stringify(roomRaw));
  checks.check("the room account data is not global account data", alice.client.getAccountData(roomType) === undefined);

  // Spec: GET /user/{userId}/account_data/{type}: 403 when the token does not belong to userId.
  checks.check("bob may not read alice's global account data (403 M_FORBIDDEN)",
    (await failureOf(bob.client.http.authedRequest(Method.Get, `/user/${encodeURIComponent(alice.userId)}/account_data/${globalType}`))) === "403 M_FORBIDDEN");
  checks.check("bob may not read alice's room tags (403 M_FORBIDDEN)",
    (await failureOf(bob.client.http.authedRequest(Method.Get, `/user/${encodeURIComponent(alice.userId)}/rooms/${encodeURIComponent(roomId)}/tags`))) === "403 M_FORBIDDEN");
}

async function pagination(alice, bob, roomId) {
  const count = 30;
  const limit = 7;
  const prefix = `page ${nonce()} `;
  const ids = await checks.step(`alice sends ${count} messages`, async () => {
    const sent = [];
    for (let i = 0; i < count; i++) {
      const { event_id: id } = await alice.client.sendTextMessage(roomId, `${prefix}${String(i).padStart(2, "0")}`);
      sent.push(id);
    }
    return sent;
  });
  await checks.step(`bob's sync delivers all ${count}`, () =>
    until(() => ids.every((id) => bob.client.getRoom(roomId)?.findEventById(id)), WAIT_MS, "the last page message"));

  const pageIds = (events) => events.filter((e) => e.content?.body?.startsWith(prefix)).map((e) => e.event_id);
  const sameList = (a, b) => a.length === b.length && a.every((id, i) => id === b[i]);

  const backward = await checks.step(`bob pages /messages backwards (limit ${limit}) to the start of the room`, async () => {
    const pages = [];
    let from = null;
    for (let i = 0; i < 40; i++) {
      const res = await bob.client.createMessagesRequest(roomId, from, limit, Direction.Backward);
      pages.push(res);
      if (!res.end || res.chunk.length === 0) return pages;
      from = res.end;
    }
    throw new Error("no end of the room after 40 pages");
  });
  const backEvents = backward.flatMap((p) => p.chunk);
  checks.check(`every backward page has at most ${limit} events`, backward.every((p) => p.chunk.length <= limit),
    `page sizes ${backward.map((p) => p.chunk.length).join(",")}`);
  checks.check(`the ${count} messages arrive backwards, newest first, each exactly once`,
    sameList(pageIds(backEvents), [...ids].reverse()), `got ${pageIds(backEvents).length} page messages`);
  checks.check("backward pagination reaches m.room.create and stops (no end token)",
    backEvents.at(-1)?.type === EventType.RoomCreate && !backward.at(-1).end,
    `last event ${backEvents.at(-1)?.type}, last end ${backward.at(-1).end}`);
  checks.check("no event appears twice across the backward pages",
    new Set(backEvents.map((e) => e.event_id)).size === backEvents.length);

  const forward = await checks.step(`bob pages /messages forwards (limit ${limit}) from the start of the room`, async () => {
    const pages = [];
    let from = null;
    for (let i = 0; i < 40; i++) {
      const res = await bob.client.createMessagesRequest(roomId, from, limit, Direction.Forward);
      pages.push(res);
      if (!res.end || res.chunk.length === 0) return pages;
      from = res.end;
    }
    throw new Error("no end of the room after 40 pages");
  });
  const forwardEvents = forward.flatMap((p) => p.chunk);
  checks.check(`the ${count} messages arrive forwards, oldest first, each exactly once`,
    sameList(pageIds(forwardEvents), ids), `got ${pageIds(forwardEvents).length} page messages`);
  checks.check("forward pagination returns the same events as backward, in the opposite order",
    sameList(forwardEvents.map((e) => e.event_id), backEvents.map((e) => e.event_id).reverse()),
    `${forwardEvents.length} forward, ${backEvents.length} backward`);

  // The SDK's own back-pagination: a fresh client for bob that syncs only the last few events, then scrollback. It
  // lazy-loads members, as Element does: /sync and /messages carry only the members of the events' senders.
  const fresh = makeClient(ctx.baseUrl, bob, ctx.clients, { name: "bob (fresh)" });
  await startSyncing(ctx, bob, fresh, "a fresh client for bob syncs with a timeline limit of 4, lazy-loading members",
    { initialSyncLimit: 4, lazyLoadMembers: true });
  const room = fresh.getRoom(roomId);
  checks.check("the lazy-loaded sync names the sender of the timeline events (alice's member event)",
    room?.getMember(alice.userId)?.name === alice.displayName, `alice's member name ${JSON.stringify(room?.getMember(alice.userId)?.name)}`);
  checks.check("the room summary counts the two joined members", room?.getJoinedMemberCount() === 2, `${room?.getJoinedMemberCount()}`);
  await checks.step(`the fresh client scrolls back (scrollback, ${limit} at a time) to alice's first page message`, async () => {
    for (let i = 0; i < 40 && !room.findEventById(ids[0]); i++) {
      if (room.oldState.paginationToken === null) throw new Error("start of the room reached without the first message");
      await fresh.scrollback(room, limit);
    }
    if (!room.findEventById(ids[0])) throw new Error("not found after 40 scrollbacks");
  });
  const timeline = room.getLiveTimeline().getEvents().filter((e) => e.getContent().body?.startsWith(prefix)).map((e) => e.getId());
  checks.check(`the fresh client's timeline holds the ${count} messages in order, each once`, sameList(timeline, ids),
    `timeline has ${timeline.length}`);
  await checks.step("the fresh client loads the room's members (GET /members?at=...)", () => room.loadMembersIfNeeded());
  const loaded = room.getJoinedMembers().map((m) => m.userId).sort();
  checks.check("after loading, the fresh client knows both joined members", loaded.join() === [alice.userId, bob.userId].sort().join(),
    JSON.stringify(loaded));
  fresh.stopClient();
}

async function stateAndMembers(alice, bob, roomId, { name, topic }, bobName) {
  const nameContent = await checks.step("bob reads m.room.name (getStateEvent)", () => bob.client.getStateEvent(roomId, EventType.RoomName, ""));
  checks.check("m.room.name has the name", nameContent?.name === name, JSON.stringify(nameContent));
  const topicContent = await checks.step("bob reads m.room.topic", () => bob.client.getStateEvent(roomId, EventType.RoomTopic, ""));
  checks.check("m.room.topic has the topic", topicContent?.topic === topic, JSON.stringify(topicContent));
  const aliceMember = await checks.step("bob reads alice's m.room.member", () => bob.client.getStateEvent(roomId, EventType.RoomMember, alice.userId));
  checks.check("alice's member state says join", aliceMember?.membership === KnownMembership.Join, JSON.stringify(aliceMember));
  checks.check("a state event that does not exist answers 404 M_NOT_FOUND",
    (await failureOf(bob.client.getStateEvent(roomId, "org.interop.absent", ""))) === "404 M_NOT_FOUND");

  const custom = { value: nonce() };
  await checks.step("alice sets a custom state event with a state key", () =>
    alice.client.sendStateEvent(roomId, "org.interop.state", custom, "key-1"));
  checks.check("bob reads the custom state event back",
    (await bob.client.getStateEvent(roomId, "org.interop.state", "key-1"))?.value === custom.value);
  await checks.attempt("bob's sync delivers the custom state into the room state", () =>
    until(() => bob.client.getRoom(roomId)?.currentState.getStateEvents("org.interop.state", "key-1")?.getContent().value === custom.value,
      WAIT_MS, "the custom state event"));

  const newTopic = `a new topic ${nonce()}`;
  await checks.step("alice changes the topic", () => alice.client.setRoomTopic(roomId, newTopic));
  await checks.attempt("bob's SDK shows the new topic", () =>
    until(() => topicOf(bob.client, roomId) === newTopic, WAIT_MS, "the new topic", () => JSON.stringify(topicOf(bob.client, roomId))));

  const joined = await checks.step("bob lists the joined members (GET /joined_members)", () => bob.client.getJoinedRoomMembers(roomId));
  checks.check("joined_members has exactly alice and bob, with bob's current display name",
    Object.keys(joined.joined ?? {}).sort().join() === [alice.userId, bob.userId].sort().join() &&
      joined.joined[bob.userId]?.display_name === bobName, JSON.stringify(joined));
  const members = await checks.step("bob lists the members (GET /members)", () => bob.client.members(roomId));
  const memberships = Object.fromEntries((members.chunk ?? []).map((e) => [e.state_key, e.content.membership]));
  checks.check("/members has alice and bob as join", memberships[alice.userId] === "join" && memberships[bob.userId] === "join" &&
    Object.keys(memberships).length === 2, JSON.stringify(memberships));
  const notJoined = await checks.step("bob lists the members that are not joined (not_membership=join)", () =>
    bob.client.members(roomId, undefined, KnownMembership.Join));
  checks.check("nobody is listed with not_membership=join", (notJoined.chunk ?? []).length === 0, JSON.stringify(notJoined.chunk));

  const state = await checks.step("alice reads the whole room state (GET /state)", () => alice.client.roomState(roomId));
  const types = new Set(state.map((e) => `${e.type}|${e.state_key}`));
  checks.check("the room state has create, power levels, join rules, name, topic, both members and the custom event",
    [`${EventType.RoomCreate}|`, `${EventType.RoomPowerLevels}|`, `${EventType.RoomJoinRules}|`, `${EventType.RoomName}|`,
      `${EventType.RoomTopic}|`, `${EventType.RoomMember}|${alice.userId}`, `${EventType.RoomMember}|${bob.userId}`,
      "org.interop.state|key-1"].every((key) => types.has(key)), [...types].join(" "));
  checks.check("the room state holds the current topic", state.find((e) => e.type === EventType.RoomTopic)?.content.topic === newTopic);
  const sdkMembers = alice.client.getRoom(roomId)?.getJoinedMembers().map((m) => m.userId).sort();
  checks.check("alice's SDK lists alice and bob as the joined members", sdkMembers?.join() === [alice.userId, bob.userId].sort().join(),
    JSON.stringify(sdkMembers));
}

async function leaveAndRejoin(alice, bob, roomId) {
  await checks.step("bob leaves the room", () => bob.client.leave(roomId));
  await checks.attempt("alice's SDK shows bob's membership as leave", () =>
    until(() => alice.client.getRoom(roomId)?.getMember(bob.userId)?.membership === KnownMembership.Leave, WAIT_MS, "bob's leave"));
  await checks.attempt("bob's SDK shows his own membership as leave", () =>
    until(() => bob.client.getRoom(roomId)?.getMyMembership() === KnownMembership.Leave, WAIT_MS, "bob's own leave",
      () => `membership ${bob.client.getRoom(roomId)?.getMyMembership()}`));
  const left = await checks.step("alice lists members with membership=leave", () => alice.client.members(roomId, KnownMembership.Leave));
  checks.check("/members?membership=leave lists exactly bob", (left.chunk ?? []).map((e) => e.state_key).join() === bob.userId,
    JSON.stringify(left.chunk?.map((e) => [e.state_key, e.content.membership])));
  const joined = await alice.client.getJoinedRoomMembers(roomId);
  checks.check("joined_members no longer lists bob", !(bob.userId in (joined.joined ?? {})), JSON.stringify(joined));
  checks.check("bob may not send to the room he left (403 M_FORBIDDEN)",
    (await failureOf(bob.client.http.authedRequest(Method.Put,
      `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/left-${nonce()}`, undefined, { msgtype: "m.text", body: "I left" }))) === "403 M_FORBIDDEN");

  const awayBody = `while bob was away ${nonce()}`;
  const { event_id: awayId } = await checks.step("alice sends a message while bob is out", () => alice.client.sendTextMessage(roomId, awayBody));
  await checks.step("alice invites bob again", () => alice.client.invite(roomId, bob.userId));
  await checks.step("bob's sync delivers the new invite", () =>
    until(() => bob.client.getRoom(roomId)?.getMyMembership() === KnownMembership.Invite, WAIT_MS, "the second invite"));
  await checks.step("bob joins again", () => bob.client.joinRoom(roomId));
  await checks.attempt("alice's SDK shows bob joined again", () =>
    until(() => alice.client.getRoom(roomId)?.getMember(bob.userId)?.membership === KnownMembership.Join, WAIT_MS, "bob's re-join"));
  await checks.attempt("bob's SDK shows his own membership as join again", () =>
    until(() => bob.client.getRoom(roomId)?.getMyMembership() === KnownMembership.Join, WAIT_MS, "bob's own re-join"));

  // history_visibility is "shared" (private_chat): a member sees everything, also what was sent while he was out.
  const recent = await checks.step("bob reads recent history (/messages backwards)", () =>
    bob.client.createMessagesRequest(roomId, null, 10, Direction.Backward));
  checks.check("bob's history includes the message sent while he was out (shared history)",
    recent.chunk.some((e) => e.event_id === awayId && e.content?.body === awayBody),
    JSON.stringify(recent.chunk.map((e) => e.type)));

  const backBody = `bob is back ${nonce()}`;
  const { event_id: backId } = await checks.step("bob sends a message after re-joining", () => bob.client.sendTextMessage(roomId, backBody));
  const back = await checks.step("alice's sync delivers it", () => eventIn(alice.client, roomId, backId));
  checks.check("alice sees bob's message with its body", back.getContent().body === backBody && back.getSender() === bob.userId);
}

async function main() {
  const alice = await participant(ctx, "alice");
  const bob = await participant(ctx, "bob");
  await startSyncing(ctx, alice);
  await startSyncing(ctx, bob);

  const aliceProfile = await profile(alice, bob);
  alice.displayName = aliceProfile.displayName;
  const room = await roomWithNameAndTopic(alice, bob);
  await inviteDetails(alice, bob, room.roomId, room.name);
  const bobName = await profileInRoom(alice, bob, room.roomId, aliceProfile);

  const sent = await messages(alice, bob, room.roomId);
  await edit(alice, bob, room.roomId, sent[MsgType.Text]);
  await reaction(alice, bob, room.roomId, sent[MsgType.Notice]);
  await redaction(alice, bob, room.roomId, sent[MsgType.Emote]);

  await tagsAndAccountData(alice, bob, room.roomId);
  await pagination(alice, bob, room.roomId);
  await stateAndMembers(alice, bob, room.roomId, room, bobName);
  await leaveAndRejoin(alice, bob, room.roomId);
}

await run(main);
