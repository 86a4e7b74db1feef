// Package httpconn is the AimDB HTTP connector: webhooks out, an HTTP endpoint in.
//
// Outbound, a link_to "hooks://alerts/high" sends every value of its record to the
// connector's base URL joined with the resource (https://api.example.com/v1/alerts/high),
// with retries, backoff and authentication taken from environment variables.
// Inbound, a link_from "hooks://cmd/light" accepts POST /cmd/light on the connector's
// listen address and answers only after the host has taken (or refused) the value.
// docs/http.md documents every option.
package httpconn
