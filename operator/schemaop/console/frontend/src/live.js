// Server-sent events: the watch of SchemaVersions and runs, and a run's log.
import { useEffect, useRef, useState } from "preact/hooks";
import { paths } from "./api.js";

// Subscribes to /api/v1/events. `onEvent(kind, {type, object})`; `onOpen()` on every
// (re)connection, so the page re-lists what it may have missed. Returns the state.
export function useEvents(onEvent, onOpen) {
  const [state, setState] = useState("connecting");
  const handlers = useRef({ onEvent, onOpen });
  handlers.current = { onEvent, onOpen };
  useEffect(() => {
    const source = new EventSource(paths.events);
    let opened = false;
    source.onopen = () => {
      setState("live");
      if (opened && handlers.current.onOpen) handlers.current.onOpen();
      opened = true;
    };
    source.onerror = () => setState(source.readyState === 2 ? "closed" : "reconnecting");
    const listen = (kind) =>
      source.addEventListener(kind, (message) => {
        let data;
        try {
          data = JSON.parse(message.data);
        } catch {
          return;
        }
        handlers.current.onEvent(kind, data);
      });
    listen("schemaversion");
    listen("run");
    return () => source.close();
  }, []);
  return state;
}

// Follows a log stream (`event: line`, `event: end`). Returns {lines, state}:
// state is "connecting", "live", "ended" or "failed".
export function useLogStream(url) {
  const [lines, setLines] = useState([]);
  const [state, setState] = useState("connecting");
  useEffect(() => {
    if (!url) return undefined;
    setLines([]);
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
  return { lines, state };
}
