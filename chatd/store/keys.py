"""Every Redis key and channel the Redis engine uses, in one place.

All names start with the configurable prefix (``Settings.redis_prefix``) so
several deployments or test runs can share one server. Keys carry Redis
Cluster hash tags, which put them in one of two kinds of slot:

- ``{c:<conversation_id>}``: a conversation's message data (seq counter, log
  stream, dedupe hash, state mirror). The append script, the hot path, touches
  only this slot, so message traffic spreads over the cluster by conversation.
- ``{rt}``: routing and profile state (conversation records, queues, agents,
  loads, presence, sites, revoked tokens, visitors, routing records). Routing
  decisions read and change many of these at once; keeping them in one slot
  lets every routing change be a single-slot Lua script, at the price of one
  shard carrying all routing state. Routing traffic is a few operations per
  conversation, against several per message, so that shard is not the limit.

A transition therefore runs two scripts, one per slot (see
:mod:`chatd.store.redis`). Scripts on ``{rt}`` build some keys from the prefixes
below (``queue:<skill>``, ``active:<agent>``, ``state:<state>``); they stay in
the ``{rt}`` slot, which Redis Cluster allows for keys a script did not declare.

Broker channels are ``<prefix>:<channel>`` where ``<channel>`` is a name from
:mod:`chatd.store.base` (``conv:<id>``, ``agent:<id>``, ...).
"""

from __future__ import annotations

__all__ = ["Keys"]


class Keys:
    """Key templates for one prefix."""

    __slots__ = ("channel_prefix", "prefix", "rt")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.rt = f"{prefix}:{{rt}}:"  # the routing slot's common start
        self.channel_prefix = f"{prefix}:"  # broker channels: <prefix>:<base channel name>

    def __repr__(self) -> str:
        return f"Keys({self.prefix!r})"

    # --- per conversation, slot {c:<id>} ------------------------------------
    def _conv(self, conversation_id: str, name: str) -> str:
        return f"{self.prefix}:{{c:{conversation_id}}}:{name}"

    def seq(self, conversation_id: str) -> str:
        """STRING: the newest seq ever written (INCR)."""
        return self._conv(conversation_id, "seq")

    def log(self, conversation_id: str) -> str:
        """STREAM: log entries with id ``<seq>-1``; field ``e`` is the entry
        (msgpack map without seq), ``m`` its client_msg_id when it has one."""
        return self._conv(conversation_id, "log")

    def dedupe(self, conversation_id: str) -> str:
        """HASH client_msg_id -> seq, for entries still in the log (trimmed with it)."""
        return self._conv(conversation_id, "dedupe")

    def mirror(self, conversation_id: str) -> str:
        """HASH: ``state``, ``owner`` and ``visitor`` (copies of the record's,
        checked by appends), ``tn`` (newest transition whose event is logged),
        ``t<n>`` (its seq), ``epoch`` and ``run`` (the log's epoch and the Redis
        run id it belongs to, see lua/include/log_epoch.lua)."""
        return self._conv(conversation_id, "state")

    # --- routing and profiles, slot {rt} -------------------------------------
    @property
    def conversation_prefix(self) -> str:
        return f"{self.rt}conv:"

    def conversation(self, conversation_id: str) -> str:
        """HASH: the Conversation record's fields plus ``tn`` (transition
        counter) and ``op`` (the last transition's op id, for retries)."""
        return self.conversation_prefix + conversation_id

    @property
    def routing_clock(self) -> str:
        """STRING counter: the number of every routing change, one total order across nodes."""
        return f"{self.rt}clock"

    @property
    def pending_prefix(self) -> str:
        return f"{self.rt}pending:"

    def pending_events(self, conversation_id: str) -> str:
        """ZSET event record by transition number: transitions whose events
        are not known to be logged yet; logged by the next transition or the
        sweep if a node died between the two steps, dropped once acknowledged."""
        return self.pending_prefix + conversation_id

    @property
    def routing_lease(self) -> str:
        """STRING with a TTL: the node whose routing worker routes now."""
        return f"{self.rt}router_lease"

    @property
    def unlogged(self) -> str:
        """ZSET conversation id by time: conversations with pending event records (what the sweep looks at)."""
        return f"{self.rt}unlogged"

    def records(self, kind: str) -> str:
        """HASH key -> msgpack record: where releases before the record store kept
        configuration (skill groups, schedules, ...); read once by ``chatd db upgrade``."""
        return f"{self.rt}records:{kind}"

    def bot_state(self, conversation_id: str) -> str:
        """STRING msgpack: the bot's memory of one conversation."""
        return self._conv(conversation_id, "bot")

    def archived(self) -> str:
        """ZSET conversation id by closed_at: closes the record store's archive has."""
        return f"{self.rt}archived"

    def forgetting(self) -> str:
        """ZSET conversation id by time: forgotten conversations whose message data is still to delete."""
        return f"{self.rt}forgetting"

    def missed_offers(self) -> str:
        """HASH agent id -> offers the agent let lapse in a row."""
        return f"{self.rt}missed_offers"

    def samples(self, kind: str, key: str) -> str:
        """LIST of recent numeric samples (e.g. handle times per skill), capped."""
        return f"{self.rt}samples:{kind}:{key}"

    def routing_records(self, conversation_id: str) -> str:
        """LIST of msgpack routing explanations, capped."""
        return f"{self.rt}routing:{conversation_id}"

    @property
    def visitor_conversations_prefix(self) -> str:
        return f"{self.rt}vconv:"

    def visitor_conversations(self, site_key: str, visitor_id: str) -> str:
        """ZSET conversation id by created_at: a visitor's conversations."""
        return f"{self.visitor_conversations_prefix}{site_key}:{visitor_id}"

    @property
    def visitor_open_prefix(self) -> str:
        return f"{self.rt}vopen:"

    def visitor_open(self, site_key: str, visitor_id: str) -> str:
        """STRING: the visitor's newest conversation id, so one start at a time creates one."""
        return f"{self.visitor_open_prefix}{site_key}:{visitor_id}"

    def visitor(self, site_key: str, visitor_id: str) -> str:
        """HASH attribute -> msgpack value: a visitor's profile."""
        return f"{self.rt}visitor:{site_key}:{visitor_id}"

    @property
    def state_index_prefix(self) -> str:
        return f"{self.rt}state:"

    def state_index(self, state: str) -> str:
        """ZSET conversation id by created_at: conversations in a state."""
        return self.state_index_prefix + state

    @property
    def queue_prefix(self) -> str:
        return f"{self.rt}queue:"

    def queue(self, skill: str) -> str:
        """ZSET conversation id by queue key (chatd.conversation.queue_key): the queue order itself."""
        return self.queue_prefix + skill

    @property
    def queued_skills(self) -> str:
        """SET of skills whose queue is not empty."""
        return f"{self.rt}skills"

    @property
    def agents(self) -> str:
        """HASH agent id -> msgpack profile (without status)."""
        return f"{self.rt}agents"

    @property
    def agent_status(self) -> str:
        """HASH agent id -> online / away / offline."""
        return f"{self.rt}agent_status"

    @property
    def agent_last_assigned(self) -> str:
        """HASH agent id -> time of the last assignment to it."""
        return f"{self.rt}agent_last"

    @property
    def active_prefix(self) -> str:
        return f"{self.rt}active:"

    def active(self, agent_id: str) -> str:
        """ZSET conversation id by created_at: what the agent holds; ZCARD is its load."""
        return self.active_prefix + agent_id

    @property
    def presence(self) -> str:
        """ZSET ``<agent>|<node>`` by expiry time: live agent connections."""
        return f"{self.rt}presence"

    @property
    def sites(self) -> str:
        """HASH site key -> msgpack Site."""
        return f"{self.rt}sites"

    def revoked(self, token_id: str) -> str:
        """STRING with a TTL: a revoked token id, kept until the token expires."""
        return f"{self.rt}revoked:{token_id}"

    @property
    def events(self) -> str:
        """STREAM of msgpack events (field ``e``), consumer group ``webhooks``: the outbox."""
        return f"{self.rt}events"

    @property
    def event_retries(self) -> str:
        """ZSET msgpack event by due time: deliveries to try again."""
        return f"{self.rt}event-retries"

    def deliveries(self, site_key: str) -> str:
        """LIST of msgpack delivery records, newest first, capped."""
        return f"{self.rt}deliveries:{site_key}"

    @property
    def api_keys(self) -> str:
        """HASH key id -> msgpack ApiKey (secrets hashed)."""
        return f"{self.rt}api-keys"

    def login_failures(self, subject: str) -> str:
        """STRING counter with a TTL: failed logins of an account or address in the current window."""
        return f"{self.rt}login-failures:{subject}"

    # --- broker ----------------------------------------------------------------
    def channel(self, name: str) -> str:
        """The Redis channel for a broker channel name."""
        return self.channel_prefix + name
