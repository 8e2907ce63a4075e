// Package kittest holds the test helpers that the services' and the
// frame's tests share, so that each is written once:
//
//   - Keys, and Validator, which stands for the user service (AdminToken,
//     AliceToken, BobToken, DownToken);
//   - Clock, a settable clock;
//   - Build (a service, closed at the end of the test), Serve (a handler
//     on 127.0.0.1:0), Switch (an upstream that can crash);
//   - Call (a real HTTP call) and Record (one request served in process);
//   - StrictJSON and Unreadable, for fuzz tests that write a contract out;
//   - WantRefused, Refusal and ServiceOnly, for a route's refusal table;
//   - Mark, for the order of a middleware chain.
//
// All are safe for concurrent use, except Mark (one request at a time).
package kittest
