#!/usr/bin/python3
"""Two matrix-nio clients (nio.AsyncClient) against the homeserver at the base URL given as the first argument:

    /usr/bin/python3 tests/interop/nio/scenario_basics.py http://127.0.0.1:8008

alice and bob register (nio's register sends m.login.dummy) and log in; profiles; alice creates a room with a
name and topic, invites bob, bob joins; messages; incremental /sync where every request carries the previous
next_batch (alice with an uploaded filter, bob with an inline filter and a small timeline limit, filling each
limited gap from prev_batch with /messages); /messages pagination backwards over 30 messages; typing; receipts
and the fully-read marker; profile changes seen in the room; bob leaves. At the end every event must have
arrived exactly once, in the same order as /messages. Prints one line per check and "N passed, M failed";
exits 0 only when every check passed, 2 without a base URL.
"""

import asyncio
import json
import os
import secrets
import sys
import time
import traceback
from collections import Counter
from urllib.parse import parse_qsl, urlencode, urlsplit

WAIT_S = 30.0
LONG_POLL_MS = 10_000
PAGE_LIMIT = 4
BURST = 30
ALICE_TIMELINE_LIMIT = 100
BOB_TIMELINE_LIMIT = 10
VERBOSE = os.environ.get("INTEROP_LOG") == "debug"


class Abort(Exception):
    """A step the rest of the scenario depends on failed; the message names it."""


class Failure(Exception):
    """An expectation inside a step did not hold; the message says what was seen."""


def truncate(text, limit=600):
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} chars)"


def describe(error):
    if isinstance(error, Failure):
        return str(error)
    return truncate(f"{type(error).__name__}: {error}")


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        """Records one assertion; a failed assertion does not stop the scenario."""
        if ok:
            self.passed += 1
            print(f"PASS {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {name}{': ' + str(detail) if detail else ''}", flush=True)
        return ok

    async def step(self, name, action):
        """Runs an action the rest depends on; counts as a check, and a failure stops the scenario."""
        try:
            result = await action()
        except Abort:
            raise
        except Exception as error:  # noqa: BLE001 - every failure becomes a FAIL line
            self.check(name, False, describe(error))
            raise Abort(name) from error
        self.check(name, True)
        return result

    async def attempt(self, name, action):
        """Like step, but the scenario goes on after a failure (later checks show its consequences)."""
        try:
            result = await action()
        except Abort:
            raise
        except Exception as error:  # noqa: BLE001
            self.check(name, False, describe(error))
            return None
        self.check(name, True)
        return result

    def summary(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        return 0 if self.failed == 0 and self.passed > 0 else 1


def base_url_or_usage():
    base_url = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SYNAPSE_BASE_URL")
    if not base_url:
        print("usage: /usr/bin/python3 tests/interop/nio/scenario_basics.py <homeserver base URL>", file=sys.stderr)
        sys.exit(2)
    return base_url.rstrip("/")


def unique_localpart(base):
    """A name unique to this run, so the scenario can also run against a long-lived server."""
    stamp = ""
    value = int(time.time() * 1000)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    while value:
        value, rest = divmod(value, 36)
        stamp = digits[rest] + stamp
    return f"{base}-{stamp}{secrets.token_hex(3)}"


def redact_path(path):
    parts = urlsplit(path)
    if not parts.query:
        return path
    query = [(k, "<redacted>" if k == "access_token" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return f"{parts.path}?{urlencode(query)}"


def event_id(event):
    return getattr(event, "source", {}).get("event_id")


def short(events):
    return ", ".join(f"{e.source.get('type')}:{e.source.get('content', {}).get('body', '')}" for e in events)


# A missing nio must not hide the usage message, and is then reported as a FAIL line (see main).
try:
    import nio
except ImportError as import_error:  # depends on the machine
    NIO_IMPORT_ERROR = import_error
    AsyncClient = object
else:
    NIO_IMPORT_ERROR = None
    from nio import (AsyncClient, AsyncClientConfig, BadEvent, ErrorResponse, FullyReadEvent, InviteMemberEvent,
                     JoinedMembersResponse, JoinResponse, LoginResponse, MessageDirection, ProfileGetAvatarResponse,
                     ProfileGetDisplayNameResponse, ProfileGetResponse, ReceiptEvent, RegisterResponse,
                     RoomCreateResponse, RoomInviteResponse, RoomLeaveResponse, RoomMemberEvent, RoomMessageEmote,
                     RoomMessageNotice, RoomMessagesResponse, RoomMessageText, RoomNameEvent, RoomReadMarkersResponse,
                     RoomSendResponse, RoomTopicEvent, RoomTypingResponse, SyncResponse, TypingNoticeEvent,
                     UnknownBadEvent, UpdateReceiptMarkerResponse, UploadFilterResponse)
    from nio.responses import ProfileSetAvatarResponse, ProfileSetDisplayNameResponse, WhoamiResponse


def expect(response, expected_type, what):
    """Returns the response when nio parsed it as `expected_type`; raises with the server's answer otherwise."""
    if isinstance(response, expected_type):
        return response
    if isinstance(response, ErrorResponse):
        status = getattr(getattr(response, "transport_response", None), "status", "?")
        raise Failure(f"{what}: HTTP {status} {response.status_code} {response.message}")
    raise Failure(f"{what}: nio answered {type(response).__name__}: {truncate(response)}")


class TracingClient(AsyncClient):
    """nio.AsyncClient that prints every request answered with a non-2xx status and keeps the raw /sync body."""

    def __init__(self, who, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.who = who
        self.last_sync_body = None

    async def send(self, method, path, data=None, headers=None, trace_context=None, timeout=None):
        response = await super().send(method, path, data, headers, trace_context, timeout)
        body = await response.read()  # aiohttp caches it; nio parses it afterwards
        if urlsplit(path).path.endswith("/sync"):
            self.last_sync_body = body
        if response.status >= 300:
            text = body.decode("utf-8", "replace")
            print(f"http {self.who}: {method} {redact_path(path)} -> {response.status} {truncate(text)}", flush=True)
            if data and "/login" not in path and "/register" not in path and isinstance(data, str):
                print(f"http {self.who}:   request body {truncate(data)}", flush=True)
        return response


class User:
    """One participant: a logged-in nio client and everything its incremental syncs delivered."""

    def __init__(self, name, base_url):
        self.name = name
        self.base_url = base_url
        self.localpart = unique_localpart(name)
        self.password = secrets.token_urlsafe(12)
        self.client = None
        self.user_id = None
        self.sync_filter = None
        self.fill_gaps = False
        self.since = None
        self.sync_count = 0
        # room id -> the room's timeline as this user received it, in order (gap fills included)
        self.timeline = {}
        self.bad_events = []
        self.limited = []  # (room id, sync number, event count) for limited timelines
        self.gaps = []  # (room id, events fetched to fill a limited gap)
        self.ephemeral = []  # (room id, nio ephemeral event) in arrival order
        self.room_account_data = []  # (room id, nio account data event)
        self.last_sync = None

    def new_client(self, label=None):
        config = AsyncClientConfig(max_timeouts=2, request_timeout=30)
        return TracingClient(label or self.name, self.base_url, user=self.localpart, config=config)

    def events(self, room_id):
        return self.timeline.get(room_id, [])

    def find(self, room_id, predicate):
        return next((e for e in self.events(room_id) if predicate(e)), None)


class Scenario:
    def __init__(self, base_url, checks):
        self.base_url = base_url
        self.checks = checks
        self.clients = []

    # ---- sync bookkeeping -------------------------------------------------------------------------------

    async def sync_once(self, user, timeout_ms=LONG_POLL_MS):
        """One /sync with the previous next_batch (none the first time); records what it delivered."""
        client = user.client
        response = await client.sync(timeout=timeout_ms, sync_filter=user.sync_filter, since=user.since)
        expect(response, SyncResponse, f"{user.name}'s /sync (since {user.since})")
        raw = json.loads(client.last_sync_body or b"{}")
        user.sync_count += 1
        if not response.next_batch:
            raise Failure(f"{user.name}'s sync #{user.sync_count} has no next_batch")
        previous = user.since
        user.since = response.next_batch
        user.last_sync = (response, raw)
        for section in ("join", "leave"):
            rooms = getattr(response.rooms, section)
            for room_id, info in rooms.items():
                events = list(info.timeline.events)
                for event in events:
                    if isinstance(event, (BadEvent, UnknownBadEvent)):
                        user.bad_events.append((room_id, truncate(json.dumps(event.source), 300)))
                if previous is not None and info.timeline.limited:
                    user.limited.append((room_id, user.sync_count, len(events)))
                if info.timeline.limited and user.fill_gaps and events:
                    fill = await self.fill_gap(user, room_id, info.timeline.prev_batch)
                    user.gaps.append((room_id, len(fill)))
                    events = fill + events
                user.timeline.setdefault(room_id, []).extend(events)
                if section == "join":
                    user.ephemeral.extend((room_id, e) for e in info.ephemeral)
                    user.room_account_data.extend((room_id, e) for e in info.account_data)
        # The raw body stays at hand: nio silently drops an ephemeral event whose schema it rejects, and a failing
        # check then shows what the server really sent.
        return response, raw

    async def fill_gap(self, user, room_id, prev_batch):
        """A limited timeline: page /messages back from prev_batch until an event already held (or the start)."""
        if not prev_batch:
            raise Failure(f"{user.name}'s limited timeline in {room_id} has no prev_batch")
        known = {event_id(e) for e in user.events(room_id)}
        fetched = []
        token = prev_batch
        for _ in range(100):
            page = expect(await user.client.room_messages(room_id, token, direction=MessageDirection.back, limit=5),
                          RoomMessagesResponse, f"{user.name} fills a gap with /messages from {token}")
            reached = False
            for event in page.chunk:
                if event_id(event) in known:
                    reached = True
                    break
                fetched.append(event)
            if reached or not page.end:
                break
            token = page.end
        else:
            raise Failure(f"{user.name}'s gap in {room_id} did not close within 100 pages")
        fetched.reverse()
        return fetched

    async def sync_until(self, user, probe, what, explain=None):
        """Syncs (each time with the previous next_batch) until probe() returns something truthy."""
        deadline = time.monotonic() + WAIT_S
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                state = f"; {explain()}" if explain else ""
                raise Failure(f"timed out after {WAIT_S:g} s of /sync waiting for {what}{state}")
            await self.sync_once(user, timeout_ms=min(LONG_POLL_MS, max(1, int((deadline - time.monotonic()) * 1000))))

    async def woken_by(self, user, action, what):
        """Starts a long-poll /sync for `user`, runs `action`, and checks the poll returns promptly."""
        for _ in range(5):
            poll = asyncio.ensure_future(self.sync_once(user, timeout_ms=20_000))
            await asyncio.sleep(0.3)
            if not poll.done():
                break
            await poll  # it returned with something older; start another so that one is really pending
        else:
            raise Failure(f"{user.name}'s long-poll /sync (timeout 20 s) returned within 0.3 s five times in a row")
        try:
            started = time.monotonic()
            result = await action()
        except BaseException:
            poll.cancel()
            raise
        await poll
        elapsed = time.monotonic() - started
        if VERBOSE:
            print(f"  {user.name}'s pending /sync returned {elapsed:.2f} s after {what}", flush=True)
        self.checks.check(f"{user.name}'s pending long-poll /sync returns soon after {what}", elapsed < 5,
                          f"returned {elapsed:.1f} s after it (timeout 20 s)")
        return result

    # ---- the scenario --------------------------------------------------------------------------------------

    async def participant(self, name):
        checks = self.checks
        user = User(name, self.base_url)

        async def register():
            client = user.new_client(f"{name} (register)")
            self.clients.append(client)
            response = expect(await client.register(user.localpart, user.password, device_name=f"nio register {name}"),
                              RegisterResponse, "POST /register")
            if not response.user_id.startswith(f"@{user.localpart}:"):
                raise Failure(f"registered {response.user_id}, asked for {user.localpart}")
            if not response.access_token or not response.device_id:
                raise Failure("no access_token or device_id in the register response")
            return response.user_id

        registered = await checks.step(f"{name} registers with nio (m.login.dummy)", register)

        async def login():
            client = user.new_client()
            self.clients.append(client)
            response = expect(await client.login(user.password, device_name=f"nio {name}"), LoginResponse,
                              "POST /login")
            user.client = client
            return response

        login_response = await checks.step(f"{name} logs in with a password", login)
        user.user_id = login_response.user_id
        checks.check(f"{name}'s login names the registered user", user.user_id == registered,
                     f"{user.user_id} != {registered}")
        checks.check(f"{name}'s login gives a new device", bool(login_response.device_id)
                     and user.client.device_id == login_response.device_id, f"device {login_response.device_id}")

        async def whoami():
            response = expect(await user.client.whoami(), WhoamiResponse, "GET /account/whoami")
            if response.user_id != user.user_id:
                raise Failure(f"whoami says {response.user_id}")

        await checks.attempt(f"{name}'s access token answers whoami", whoami)
        return user

    async def run(self):
        checks = self.checks
        alice = await self.participant("alice")
        bob = await self.participant("bob")
        server_name = alice.user_id.split(":", 1)[1]

        # -- profile ------------------------------------------------------------------------------------------
        alice_name = "Alice Interop"
        alice_avatar = f"mxc://{server_name}/nioAliceAvatar1"

        async def set_profile():
            expect(await alice.client.set_displayname(alice_name), ProfileSetDisplayNameResponse, "PUT displayname")
            expect(await alice.client.set_avatar(alice_avatar), ProfileSetAvatarResponse, "PUT avatar_url")
            expect(await bob.client.set_displayname("Bob Interop"), ProfileSetDisplayNameResponse, "bob's displayname")

        await checks.step("alice sets her display name and avatar", set_profile)

        async def own_profile():
            name = expect(await alice.client.get_displayname(), ProfileGetDisplayNameResponse, "GET own displayname")
            avatar = expect(await alice.client.get_avatar(), ProfileGetAvatarResponse, "GET own avatar_url")
            if (name.displayname, avatar.avatar_url) != (alice_name, alice_avatar):
                raise Failure(f"read back {name.displayname!r}, {avatar.avatar_url!r}")

        await checks.attempt("alice reads back her display name and avatar", own_profile)

        async def other_profile():
            profile = expect(await bob.client.get_profile(alice.user_id), ProfileGetResponse, "GET /profile/alice")
            name = expect(await bob.client.get_displayname(alice.user_id), ProfileGetDisplayNameResponse,
                          "GET /profile/alice/displayname")
            avatar = expect(await bob.client.get_avatar(alice.user_id), ProfileGetAvatarResponse,
                            "GET /profile/alice/avatar_url")
            seen = (profile.displayname, profile.avatar_url, name.displayname, avatar.avatar_url)
            if seen != (alice_name, alice_avatar, alice_name, alice_avatar):
                raise Failure(f"bob sees {seen}")

        await checks.attempt("bob reads alice's profile (whole, displayname, avatar_url)", other_profile)

        # -- first syncs: alice with an uploaded filter, bob with an inline one -------------------------------
        async def alice_filter():
            response = expect(await alice.client.upload_filter(room={"timeline": {"limit": ALICE_TIMELINE_LIMIT}}),
                              UploadFilterResponse, "POST /user/{userId}/filter")
            return response.filter_id

        alice.sync_filter = await checks.step("alice uploads a sync filter", alice_filter)
        bob.sync_filter = {"room": {"timeline": {"limit": BOB_TIMELINE_LIMIT}}}
        bob.fill_gaps = True
        await checks.step("alice's initial sync", lambda: self.sync_once(alice, timeout_ms=0))
        await checks.step("bob's initial sync", lambda: self.sync_once(bob, timeout_ms=0))

        # -- room with name and topic --------------------------------------------------------------------------
        room_name = "nio interop room"
        room_topic = "where matrix-nio meets Synapse for .NET"

        async def create_room():
            response = expect(await alice.client.room_create(name=room_name, topic=room_topic), RoomCreateResponse,
                              "POST /createRoom")
            return response.room_id

        room_id = await checks.step("alice creates a room with a name and topic", create_room)
        await checks.step("alice's sync delivers the new room with its name and topic", lambda: self.sync_until(
            alice, lambda: room_id in alice.client.rooms and alice.client.rooms[room_id].name == room_name
            and alice.client.rooms[room_id].topic == room_topic, "the room, its name and topic",
            lambda: f"rooms {list(alice.client.rooms)}"))
        checks.check("alice's timeline has the m.room.name and m.room.topic events", any(
            isinstance(e, RoomNameEvent) and e.name == room_name for e in alice.events(room_id)) and any(
            isinstance(e, RoomTopicEvent) and e.topic == room_topic for e in alice.events(room_id)),
            short(alice.events(room_id)))

        # -- invite and join -----------------------------------------------------------------------------------
        await checks.step("alice invites bob", lambda: self.expect_async(
            alice.client.room_invite(room_id, bob.user_id), RoomInviteResponse, "POST /rooms/{roomId}/invite"))
        await checks.step("bob's sync delivers the invite", lambda: self.sync_until(
            bob, lambda: room_id in bob.last_sync[0].rooms.invite, "the room under rooms.invite"))
        invite_state = bob.last_sync[0].rooms.invite[room_id].invite_state
        # Spec: Client-Server API, "Stripped state": the room name SHOULD be in it, and the invite itself is
        # the user's m.room.member event with membership invite.
        checks.check("the invite's stripped state carries the room name and bob's invite",
                     bob.client.invited_rooms.get(room_id) is not None
                     and bob.client.invited_rooms[room_id].name == room_name
                     and any(isinstance(e, InviteMemberEvent) and e.state_key == bob.user_id
                             and e.membership == "invite" for e in invite_state),
                     f"nio's invited room name {getattr(bob.client.invited_rooms.get(room_id), 'name', None)!r}, "
                     f"raw {truncate(json.dumps(bob.last_sync[1].get('rooms', {}).get('invite', {}).get(room_id)))}")

        await checks.step("bob joins the room", lambda: self.expect_async(
            bob.client.join(room_id), JoinResponse, "POST /join/{roomIdOrAlias}"))
        await checks.step("bob's sync moves the room from invite to join", lambda: self.sync_until(
            bob, lambda: room_id in bob.client.rooms and room_id not in bob.client.invited_rooms,
            "the room under rooms.join"))
        bob_room = bob.client.rooms[room_id]
        checks.check("bob's nio room has the name, topic and both members",
                     bob_room.name == room_name and bob_room.topic == room_topic
                     and {alice.user_id, bob.user_id} <= set(bob_room.users),
                     f"name {bob_room.name!r}, topic {bob_room.topic!r}, users {list(bob_room.users)}")
        checks.check("alice's member event carries her display name and avatar (bob's view)",
                     bob_room.user_name(alice.user_id) == alice_name
                     and getattr(bob_room.users.get(alice.user_id), "avatar_url", None) == alice_avatar,
                     f"{bob_room.user_name(alice.user_id)!r}, "
                     f"{getattr(bob_room.users.get(alice.user_id), 'avatar_url', None)!r}")
        await checks.step("alice's sync shows bob joined", lambda: self.sync_until(
            alice, lambda: alice.find(room_id, lambda e: isinstance(e, RoomMemberEvent) and e.state_key == bob.user_id
                                      and e.membership == "join"), "bob's join member event"))
        checks.check("bob's join carries his display name (alice's view)",
                     alice.client.rooms[room_id].user_name(bob.user_id) == "Bob Interop",
                     repr(alice.client.rooms[room_id].user_name(bob.user_id)))

        async def joined_members():
            response = expect(await alice.client.joined_members(room_id), JoinedMembersResponse,
                              "GET /rooms/{roomId}/joined_members")
            members = {m.user_id: (m.display_name, m.avatar_url) for m in response.members}
            wanted = {alice.user_id: (alice_name, alice_avatar), bob.user_id: ("Bob Interop", None)}
            if members != wanted:
                raise Failure(f"joined_members {members}")

        await checks.attempt("joined_members lists both with display names and avatar", joined_members)

        # -- messages --------------------------------------------------------------------------------------------
        sent = {}  # event id -> (sender, body)

        async def send(user, msgtype, body):
            content = {"msgtype": msgtype, "body": body}
            response = expect(await user.client.room_send(room_id, "m.room.message", content), RoomSendResponse,
                              f"PUT /rooms/{{roomId}}/send ({body})")
            sent[response.event_id] = (user.user_id, body)
            return response.event_id

        hello = await self.woken_by(bob, lambda: checks.step("alice sends a text message", lambda: send(
            alice, "m.text", "hello bob")), "alice's message")
        await checks.step("bob receives alice's text message", lambda: self.sync_until(
            bob, lambda: bob.find(room_id, lambda e: event_id(e) == hello), "alice's message"))
        received = bob.find(room_id, lambda e: event_id(e) == hello)
        checks.check("nio parses it as m.text from alice with the body", isinstance(received, RoomMessageText)
                     and received.body == "hello bob" and received.sender == alice.user_id, truncate(received))

        notice = await checks.step("bob sends a notice", lambda: send(bob, "m.notice", "hello alice"))
        emote = await checks.step("bob sends an emote", lambda: send(bob, "m.emote", "waves"))
        await checks.step("alice receives the notice and the emote", lambda: self.sync_until(
            alice, lambda: alice.find(room_id, lambda e: event_id(e) == emote), "bob's emote"))
        got_notice = alice.find(room_id, lambda e: event_id(e) == notice)
        got_emote = alice.find(room_id, lambda e: event_id(e) == emote)
        checks.check("nio parses them as m.notice and m.emote from bob",
                     isinstance(got_notice, RoomMessageNotice) and got_notice.body == "hello alice"
                     and isinstance(got_emote, RoomMessageEmote) and got_emote.body == "waves"
                     and got_notice.sender == bob.user_id, f"{truncate(got_notice)} / {truncate(got_emote)}")

        # -- a burst of 30: alice's syncs are never limited, bob's are and he fills the gap ---------------------
        async def burst():
            ids = []
            for number in range(1, BURST + 1):
                ids.append(await send(alice, "m.text", f"page {number}"))
            return ids

        burst_ids = await checks.step(f"alice sends {BURST} messages", burst)
        # Wait for the last one only: whether the others arrived (for bob: through the gap fill) is checked below.
        await checks.step(f"alice's sync delivers the last of the {BURST}", lambda: self.sync_until(
            alice, lambda: alice.find(room_id, lambda e: event_id(e) == burst_ids[-1]), f"message {BURST}"))
        limited_before = len(bob.limited)
        await checks.step(f"bob's sync delivers the last of the {BURST}", lambda: self.sync_until(
            bob, lambda: bob.find(room_id, lambda e: event_id(e) == burst_ids[-1]), f"message {BURST}"))
        new_limited = bob.limited[limited_before:]
        checks.check(f"bob's sync after the burst is limited to at most {BOB_TIMELINE_LIMIT} events (his filter)",
                     bool(new_limited) and all(count <= BOB_TIMELINE_LIMIT for _, _, count in new_limited),
                     f"limited syncs {new_limited}")
        for user in (alice, bob):
            bodies = [e.source.get("content", {}).get("body") for e in user.events(room_id)
                      if event_id(e) in set(burst_ids)]
            checks.check(f"{user.name} holds the {BURST} messages once each, in order"
                         + (" (gap filled from prev_batch)" if user.fill_gaps else ""),
                         bodies == [f"page {n}" for n in range(1, BURST + 1)], truncate(bodies))

        # -- /messages backwards with a small limit ----------------------------------------------------------
        async def paginate():
            pages = []
            token = alice.since  # Spec: "from" may be a next_batch token from /sync
            for _ in range(200):
                page = expect(await alice.client.room_messages(room_id, token, direction=MessageDirection.back,
                                                               limit=PAGE_LIMIT), RoomMessagesResponse,
                              f"GET /rooms/{{roomId}}/messages?from={token}")
                pages.append((token, page))
                if not page.end:
                    return pages
                if page.end == token and not page.chunk:
                    raise Failure(f"page {len(pages)} returned no events and the same token as end")
                token = page.end
            raise Failure("no page without an end token within 200 pages")

        pages = await checks.step(f"alice paginates /messages backwards with limit {PAGE_LIMIT} until no end token",
                                  paginate)
        # Spec: GET /rooms/{roomId}/messages, "start": the same as the value given in "from".
        checks.check("every page's start is the token it was asked from", all(p.start == t for t, p in pages),
                     str([(t, p.start) for t, p in pages if p.start != t][:3]))
        pages = [p for _, p in pages]
        paged = [e for page in pages for e in page.chunk]
        paged_ids = [event_id(e) for e in paged]
        checks.check(f"every page holds at most {PAGE_LIMIT} events", all(len(p.chunk) <= PAGE_LIMIT for p in pages),
                     str([len(p.chunk) for p in pages]))
        checks.check("every event appears once across the pages", len(paged_ids) == len(set(paged_ids)),
                     f"duplicates {[i for i, n in Counter(paged_ids).items() if n > 1]}")
        page_bodies = [e.source.get("content", {}).get("body") for e in paged if event_id(e) in set(burst_ids)]
        checks.check(f"the {BURST} messages come newest first, in order",
                     page_bodies == [f"page {n}" for n in range(BURST, 0, -1)], truncate(page_bodies))
        checks.check("pagination ends at m.room.create",
                     bool(paged) and paged[-1].source.get("type") == "m.room.create", short(paged[-3:]))
        alice_ids = [event_id(e) for e in alice.events(room_id)]
        checks.check("the pages reversed are exactly the events alice's syncs delivered",
                     list(reversed(paged_ids)) == alice_ids,
                     f"{len(paged_ids)} paged vs {len(alice_ids)} synced; first difference at "
                     f"{next((i for i, (a, b) in enumerate(zip(reversed(paged_ids), alice_ids)) if a != b), None)}")

        # -- typing ------------------------------------------------------------------------------------------------
        def typing_seen(user, room, wanted):
            return any(isinstance(e, TypingNoticeEvent) and r == room and wanted(e.users) for r, e in user.ephemeral)

        mark = len(alice.ephemeral)
        await self.woken_by(alice, lambda: checks.step("bob starts typing", lambda: self.expect_async(
            bob.client.room_typing(room_id, True, 30_000), RoomTypingResponse, "PUT typing")), "bob's typing")
        await checks.attempt("alice's sync delivers m.typing with bob", lambda: self.sync_until(
            alice, lambda: any(isinstance(e, TypingNoticeEvent) and bob.user_id in e.users
                               for _, e in alice.ephemeral[mark:]), "m.typing naming bob",
            lambda: f"ephemeral {alice.ephemeral[mark:]}; raw {self.raw_ephemeral(alice, room_id)}"))
        checks.check("alice's nio room lists bob as typing", bob.user_id in alice.client.rooms[room_id].typing_users,
                     str(alice.client.rooms[room_id].typing_users))
        mark = len(alice.ephemeral)
        await checks.step("bob stops typing", lambda: self.expect_async(
            bob.client.room_typing(room_id, False), RoomTypingResponse, "PUT typing false"))
        await checks.attempt("alice's sync delivers m.typing without bob", lambda: self.sync_until(
            alice, lambda: any(isinstance(e, TypingNoticeEvent) and bob.user_id not in e.users
                               for _, e in alice.ephemeral[mark:]), "m.typing without bob",
            lambda: f"ephemeral {alice.ephemeral[mark:]}; raw {self.raw_ephemeral(alice, room_id)}"))

        # -- receipts and the fully-read marker ------------------------------------------------------------------
        last_page = burst_ids[-1]

        def receipts(user, reader, target):
            return [rc for r, e in user.ephemeral if r == room_id and isinstance(e, ReceiptEvent)
                    for rc in e.receipts if rc.user_id == reader and rc.event_id == target]

        await self.woken_by(alice, lambda: checks.step("bob sets his read markers (m.fully_read and m.read)",
                                                       lambda: self.expect_async(
            bob.client.room_read_markers(room_id, last_page, last_page), RoomReadMarkersResponse,
            "POST /rooms/{roomId}/read_markers")), "bob's read receipt")
        await checks.attempt("alice's sync delivers bob's m.receipt", lambda: self.sync_until(
            alice, lambda: receipts(alice, bob.user_id, last_page), "m.receipt from bob",
            lambda: f"raw {self.raw_ephemeral(alice, room_id)}"))
        bob_receipt = receipts(alice, bob.user_id, last_page)
        checks.check("the receipt is m.read with a timestamp", bool(bob_receipt) and bob_receipt[0].receipt_type ==
                     "m.read" and isinstance(bob_receipt[0].timestamp, int), str(bob_receipt))
        checks.check("alice's nio room has bob's read receipt",
                     getattr(alice.client.rooms[room_id].read_receipts.get(bob.user_id), "event_id", None) == last_page,
                     str(alice.client.rooms[room_id].read_receipts))
        await checks.attempt("bob's sync delivers his m.fully_read room account data", lambda: self.sync_until(
            bob, lambda: any(isinstance(e, FullyReadEvent) and r == room_id and e.event_id == last_page
                             for r, e in bob.room_account_data), "m.fully_read",
            lambda: f"account data {bob.room_account_data}"))

        await checks.step("alice sends a receipt for bob's notice (update_receipt_marker)", lambda: self.expect_async(
            alice.client.update_receipt_marker(room_id, notice), UpdateReceiptMarkerResponse,
            "POST /rooms/{roomId}/receipt/m.read/{eventId}"))
        await checks.attempt("bob's sync delivers alice's m.receipt", lambda: self.sync_until(
            bob, lambda: receipts(bob, alice.user_id, notice), "m.receipt from alice",
            lambda: f"raw {self.raw_ephemeral(bob, room_id)}"))

        # -- profile changes reach the room -------------------------------------------------------------------
        renamed = "Alice Renamed"
        new_avatar = f"mxc://{server_name}/nioAliceAvatar2"

        async def change_profile():
            expect(await alice.client.set_displayname(renamed), ProfileSetDisplayNameResponse, "PUT displayname")
            expect(await alice.client.set_avatar(new_avatar), ProfileSetAvatarResponse, "PUT avatar_url")

        await checks.step("alice changes her display name and avatar", change_profile)
        # Spec: Client-Server API, "Events on Change of Profile Information": an m.room.member event goes to every room.
        await checks.attempt("bob's sync delivers alice's new member event with both changes", lambda: self.sync_until(
            bob, lambda: bob.client.rooms[room_id].user_name(alice.user_id) == renamed
            and bob.client.rooms[room_id].users[alice.user_id].avatar_url == new_avatar,
            "alice's new display name and avatar in the room",
            lambda: f"{bob.client.rooms[room_id].user_name(alice.user_id)!r}"))

        async def reread_profile():
            profile = expect(await bob.client.get_profile(alice.user_id), ProfileGetResponse, "GET /profile/alice")
            if (profile.displayname, profile.avatar_url) != (renamed, new_avatar):
                raise Failure(f"bob sees {profile.displayname!r}, {profile.avatar_url!r}")

        await checks.attempt("bob reads alice's changed profile", reread_profile)

        # -- leave -----------------------------------------------------------------------------------------------
        await checks.step("bob leaves the room", lambda: self.expect_async(
            bob.client.room_leave(room_id), RoomLeaveResponse, "POST /rooms/{roomId}/leave"))
        await checks.step("bob's sync moves the room to leave", lambda: self.sync_until(
            bob, lambda: room_id in bob.last_sync[0].rooms.leave, "the room under rooms.leave"))
        leave_sync = bob.last_sync[0]
        leave_events = leave_sync.rooms.leave[room_id].timeline.events
        bob_leave = next((e for e in leave_events if isinstance(e, RoomMemberEvent) and e.state_key == bob.user_id
                          and e.membership == "leave"), None)
        checks.check("the leave section's timeline ends with bob's leave event", bob_leave is not None
                     and leave_events[-1] is bob_leave and room_id not in leave_sync.rooms.join, short(leave_events))
        await checks.step("alice's sync shows bob left", lambda: self.sync_until(
            alice, lambda: alice.find(room_id, lambda e: isinstance(e, RoomMemberEvent) and e.state_key == bob.user_id
                                      and e.membership == "leave"), "bob's leave member event"))
        checks.check("alice's nio room no longer lists bob", bob.user_id not in alice.client.rooms[room_id].users,
                     str(list(alice.client.rooms[room_id].users)))
        after = await checks.step("alice sends a message after bob left", lambda: send(alice, "m.text", "after leave"))
        await checks.step("alice receives it", lambda: self.sync_until(
            alice, lambda: alice.find(room_id, lambda e: event_id(e) == after), "her message"))

        async def bob_sees_nothing():
            response, _ = await self.sync_once(bob, timeout_ms=0)
            rooms = response.rooms
            if room_id in rooms.join or room_id in rooms.leave or room_id in rooms.invite:
                raise Failure(f"room still in bob's sync: join={room_id in rooms.join} leave={room_id in rooms.leave}")
            if bob.find(room_id, lambda e: event_id(e) == after):
                raise Failure("bob received alice's message sent after he left")

        await checks.attempt("bob's next sync has nothing from the room he left", bob_sees_nothing)

        if VERBOSE:
            print(f"  bob's limited timelines (room, sync #, events): {bob.limited}; gap fills: {bob.gaps}; "
                  f"syncs: alice {alice.sync_count}, bob {bob.sync_count}", flush=True)

        # -- exactly once, nothing missed -----------------------------------------------------------------------
        for user in (alice, bob):
            ids = [event_id(e) for e in user.events(room_id)]
            duplicates = [i for i, n in Counter(ids).items() if n > 1]
            checks.check(f"{user.name}'s syncs delivered no event twice", not duplicates, f"duplicates {duplicates}")
            checks.check(f"nio parsed every event {user.name} received", not user.bad_events, truncate(user.bad_events))
        # Spec: /sync "ephemeral" holds the new ephemeral events since the token; a receipt is not repeated.
        checks.check("each receipt reached the other user once", len(receipts(alice, bob.user_id, last_page)) == 1
                     and len(receipts(bob, alice.user_id, notice)) == 1,
                     f"bob's receipt {len(receipts(alice, bob.user_id, last_page))}x at alice, alice's "
                     f"{len(receipts(bob, alice.user_id, notice))}x at bob")
        checks.check("alice's incremental syncs were never limited (filter limit 100)", not alice.limited,
                     str(alice.limited))

        alice_ids = [event_id(e) for e in alice.events(room_id)]
        missing = [body for i, (_, body) in sent.items() if i not in alice_ids]
        checks.check("alice received every sent message", not missing, f"missing {missing}")

        async def full_history():
            history, token = [], alice.since
            for _ in range(100):
                page = expect(await alice.client.room_messages(room_id, token, direction=MessageDirection.back,
                                                               limit=50), RoomMessagesResponse, "GET /messages")
                history.extend(page.chunk)
                if not page.end:
                    return [event_id(e) for e in reversed(history)]
                token = page.end
            raise Failure("history did not end within 100 pages")

        history = await checks.attempt("alice reads the whole history with /messages", full_history)
        if history is not None:
            checks.check("alice's syncs delivered the whole room history once, in order", history == alice_ids,
                         f"{len(history)} in history, {len(alice_ids)} synced")
            # bob's first sync of the room may or may not reach back before his join (the spec leaves that to the
            # server), but from his first event on to his leave nothing may be missing, doubled or out of order.
            bob_ids = [event_id(e) for e in bob.events(room_id)]
            first = history.index(bob_ids[0]) if bob_ids and bob_ids[0] in history else 0
            last = history.index(event_id(bob_leave)) if bob_leave and event_id(bob_leave) in history else len(history)
            expected = history[first:last + 1]
            bob_join = next((event_id(e) for e in bob.events(room_id) if isinstance(e, RoomMemberEvent)
                             and e.state_key == bob.user_id and e.membership == "join"), None)
            difference = next((i for i, (a, b) in enumerate(zip(bob_ids, expected)) if a != b), None)
            checks.check("bob's syncs and gap fills delivered the history from his first event to his leave once, "
                         "in order, his join included", bob_ids == expected and bob_join in bob_ids,
                         f"{len(bob_ids)} received, {len(expected)} expected from history index {first}; "
                         f"first difference at {difference}")

    async def expect_async(self, awaitable, expected_type, what):
        return expect(await awaitable, expected_type, what)

    @staticmethod
    def raw_ephemeral(user, room_id):
        if not user.last_sync:
            return "no sync yet"
        raw = user.last_sync[1]
        return truncate(json.dumps(raw.get("rooms", {}).get("join", {}).get(room_id, {}).get("ephemeral")), 400)


def configure_nio_logging():
    """nio logs through logbook: warnings and errors (schema rejections among them) are printed, the rest only
    with INTEROP_LOG=debug."""
    try:
        import logbook
    except ImportError:
        return
    level = logbook.DEBUG if VERBOSE else logbook.WARNING
    from nio.log import logger_group  # nio silences itself (CRITICAL) by default
    logger_group.level = level
    logbook.StreamHandler(sys.stdout, level=level, format_string="  [nio] {record.level_name}: {record.message}",
                          bubble=False).push_application()


async def main_async(base_url, checks):
    overall_s = int(os.environ.get("INTEROP_TIMEOUT_MS", "120000")) / 1000
    scenario = Scenario(base_url, checks)
    started = time.monotonic()
    try:
        async with asyncio.timeout(overall_s) as deadline:
            await scenario.run()
    except TimeoutError:
        if deadline.expired():
            checks.check(f"scenario finishes within {overall_s:g} s", False, "overall deadline reached")
        else:
            checks.check("scenario runs without an unexpected error", False, traceback.format_exc())
    except Abort as stopped:
        print(f'stopped after the failed step "{stopped}"', flush=True)
    except Exception:  # noqa: BLE001
        checks.check("scenario runs without an unexpected error", False, traceback.format_exc())
    finally:
        for client in scenario.clients:
            await client.close()
    print(f"scenario took {time.monotonic() - started:.1f} s", flush=True)


def main():
    base_url = base_url_or_usage()
    checks = Checks()
    if NIO_IMPORT_ERROR is not None:
        checks.check("matrix-nio is importable", False,
                     f"{NIO_IMPORT_ERROR}; install it with `apt-get install -y python3-matrix-nio`")
        sys.exit(checks.summary())
    configure_nio_logging()
    print(f"matrix-nio {getattr(nio, '__version__', None) or nio_version()} on Python {sys.version.split()[0]}",
          flush=True)
    asyncio.run(main_async(base_url, checks))
    sys.exit(checks.summary())


def nio_version():
    try:
        from importlib.metadata import version
        return version("matrix-nio")
    except Exception:  # noqa: BLE001
        return "unknown version"


if __name__ == "__main__":
    main()
