// Server-sent events: the watch of SchemaVersions and runs, and a run's log.
import { useEffect, useRef, useState } from "preact/hooks";
import { paths } from "./api.js";

// One EventSource on /api/v1/events for the whole app, shared by the pages: moving
// between pages keeps the same stream (each stream is a set of watches on the API
// server). Closed on sign-out.
let shared = null;

function sharedEvents() {
  if (shared) return shared;
  const s = {
    source: new EventSource(paths.events),
    state: "connecting",
    opened: false,
    events: new Set(),
    opens: new Set(),
    states: new Set(),
  };
  const setState = (state) => {
    s.state = state;
    s.states.forEach((fn) => fn(state));
  };
  s.source.onopen = () => {
    setState("live");
    if (s.opened) s.opens.forEach((fn) => fn());
    s.opened = true;
  };
  s.source.onerror = () => setState(s.source.readyState === 2 ? "closed" : "reconnecting");
  // Changes the server left out (this page read too slowly): list again, as after a
  // reconnection.
  s.source.addEventListener("dropped", () => s.opens.forEach((fn) => fn()));
  for (const kind of ["schemaversion", "run"]) {
    s.source.addEventListener(kind, (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      s.events.forEach((fn) => fn(kind, data));
    });
  }
  shared = s;
  return s;
}

export function closeEvents() {
  if (shared) shared.source.close();
  shared = null;
}

// Subscribes to the shared stream: `onEvent(kind, {type, object})`; `onOpen()` on
// every reconnection, so the page re-lists what it may have missed. Returns the state.
export function useEvents(onEvent, onOpen) {
  const [state, setState] = useState(() => sharedEvents().state);
  const handlers = useRef({ onEvent, onOpen });
  handlers.current = { onEvent, onOpen };
  useEffect(() => {
    const s = sharedEvents();
    const event = (kind, data) => handlers.current.onEvent(kind, data);
    const open = () => handlers.current.onOpen && handlers.current.onOpen();
    s.events.add(event);
    s.opens.add(open);
    s.states.add(setState);
    setState(s.state);
    return () => {
      s.events.delete(event);
      s.opens.delete(open);
      s.states.delete(setState);
    };
  }, []);
  return state;
}

// Follows a log stream (`event: line`, `event: dropped`, `event: end`). Returns
// {lines, state, dropped}: state is "connecting", "live", "ended" or "failed";
// dropped, how many lines the server left out because this page read too slowly
// (a line in the log says where).
export function useLogStream(url) {
  const [lines, setLines] = useState([]);
  const [state, setState] = useState("connecting");
  const [dropped, setDropped] = useState(0);
  useEffect(() => {
    if (!url) return undefined;
    setLines([]);
    setDropped(0);
    setState("connecting");
    const source = new EventSource(url);
    let ended = false;
    let buffer = [];
    let timer = null;
    const flush = () => {
      timer = null;
      const batch = buffer;
      buffer = [];
      setLines((old) => old.concat(batch));
    };
    source.onopen = () => setState("live");
    source.addEventListener("line", (message) => {
      let text;
      try {
        text = JSON.parse(message.data).text;
      } catch {
        text = message.data;
      }
      buffer.push(String(text ?? ""));
      if (timer === null) timer = setTimeout(flush, 50);
    });
    source.addEventListener("dropped", (message) => {
      let count = 0;
      try {
        count = Number(JSON.parse(message.data).count) || 0;
      } catch {
        return;
      }
      buffer.push(droppedLine(count));
      if (timer === null) timer = setTimeout(flush, 50);
      setDropped((old) => old + count);
    });
    source.addEventListener("end", () => {
      ended = true;
      source.close();
      if (timer !== null) clearTimeout(timer);
      flush();
      setState("ended");
    });
    source.onerror = () => {
      if (ended) return;
      // A stream that cannot be opened (404, 403) is not retried for ever.
      source.close();
      if (timer !== null) clearTimeout(timer);
      flush();
      setState("failed");
    };
    return () => {
      source.close();
      if (timer !== null) clearTimeout(timer);
    };
  }, [url]);
  return { lines, state, dropped };
}

export function droppedLine(count) {
  return `[schemaop console: ${count} line${count === 1 ? "" : "s"} left out here, this page did not keep up]`;
}
