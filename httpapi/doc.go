// Package httpapi is the single HTTP entry point of commentd: one fasthttp
// listener that routes commands to the command bus and queries to the read
// model, authenticates bearer tokens, maps application errors to the
// statuses of the API contract and counts what it serves.
//
// Invariants:
//
//   - Every response except /metrics has Content-Type application/json, and
//     every error has the shape {"error":{"code":"...","message":"..."}}
//     with a status chosen by exactly one function, statusOf.
//   - When several errors apply, the first of this order wins: 503
//     not_ready, 401, 413, 415, 400, 404, 403, 410, 412, 409, 503
//     overloaded. Everything the handler can check itself (readiness,
//     token, body size, media type, syntax) is checked before a command is
//     sent, so a rejected request never reaches the bus.
//   - Command handlers never read the read model; query handlers never send
//     to the command bus. The package talks to the rest of the service only
//     through the small interfaces declared here (CommandBus, Queries,
//     EventLog).
//   - No byte of a fasthttp request buffer outlives the handler or crosses to
//     another goroutine: everything handed to the bus is copied into fresh
//     strings first.
//   - Error messages shown to clients never carry internal text; internal
//     errors are logged, tokens and secrets never are.
package httpapi
