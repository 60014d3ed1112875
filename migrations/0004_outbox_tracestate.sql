-- The vendors' part of an event's trace context (W3C tracestate), kept with
-- its traceparent so a relayed event hands on both.
ALTER TABLE outbox ADD COLUMN tracestate text;
