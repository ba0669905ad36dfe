// Package actors is the write side of commentd and the projection that feeds
// its read side, built on protoactor-go.
//
// Write side. Every comment aggregate has one actor, spawned on demand by one
// of a fixed set of shard actors (shards[hash(id) % N]) and passivated when
// idle or when its shard holds too many. A command travels caller -> shard
// -> comment actor, and the actor answers the caller directly on a Go
// channel carried by the request. A command that appends is answered in two
// steps: the actor decides and enqueues the append (store.AppendAsync) and
// hands it to the caller, which waits for the store's verdict itself and
// hands the outcome back; the actor waits for that outcome before it takes
// its next message. This keeps the actor's wake-up off the caller's path.
// Invariants:
//
//   - One writer per stream: all commands for one comment id go through the
//     same shard to at most one live comment actor, which serialises them, so
//     the expected version it hands to store.Append is its own state's. The
//     one exception is a create with a server-picked id (below), which
//     appends with expected version 0: the store's version check decides
//     should anybody else ever use that id at the same time.
//   - Durability before answer: a command that appended is answered only
//     after the store acknowledged its append, and the actor's state
//     advances only then, with the committed version, position and time,
//     before the actor handles its next message. On any append error the
//     actor reloads its state from the store. A caller whose deadline
//     passes withdraws the append if the store has not taken it yet (the
//     state then stands), else waits for the store's outcome; a caller that
//     panicked hands the append back, and the actor waits for it alone.
//   - Exactly one answer per accepted command: a request is answered once
//     (success, rejection, store error, timeout or internal error), and the
//     in-flight counters are released by that answer.
//   - No loss on passivation: a shard poisons a child only after marking it
//     stopping; requests for a stopping child are buffered in the shard and
//     replayed, in order, to the respawned child once the shard received
//     *actor.Terminated for the old one. The idle sweep and the bound on
//     live actors both passivate this way.
//   - Bounded memory: each shard keeps at most its share of
//     Config.MaxActors active children (spawned and not asked to stop) plus
//     the ones with a command in progress: when over its share, it
//     passivates its least recently used children that have none.
//   - Server ids sort as strings in position order: a create with a
//     server-picked id is decided against the empty state and appended
//     without an actor, its id generated and its append enqueued in the
//     store together under one mutex; the store's enqueue order is its
//     position order (store.AppendAsync).
//   - Admission control at the edge: a command over the total or per-shard
//     bound of in-flight commands fails at once with overloaded; every
//     command has a deadline (the context's, else Config.CommandTimeout).
//     A command whose deadline passes before the store took its append is
//     answered with overloaded ("command timed out") and never takes
//     effect; one whose append the store already took is answered with the
//     append's outcome, which follows within the store's fsync pipeline.
//   - Each incarnation of a comment actor (first start, restart after
//     passivation or failure) loads its state, the latest snapshot plus the
//     events after it, before it handles its first request. A snapshot is
//     saved every SnapshotEvery events, best effort.
//   - A panic while handling a command answers that command with internal
//     (after settling an append already enqueued, whose payload buffer is
//     reused only then), and the actor reloads its state on its next
//     request; other actors are not affected.
//
// Read side. The projection actor follows the store's log from the read
// model's checkpoint, in position order and in batches, and applies the
// events to the read model. When it has caught up it waits for new commits
// through store.Wait in a helper goroutine owned by the System. It acts only
// on durable records (the store's feed holds nothing else).
package actors
