// Server-Sent Events read with fetch rather than EventSource: EventSource cannot send an
// Authorization header, and it hides the status of a refused stream (404, 401, 429).

/**
 * Read the event stream of `response` and call `onEvent(name, data, id)` for each event
 * (`id` is a number, or null when the event has none). Resolves when the body ends.
 */
export async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let name = "message";
  let data = [];
  let id = null;
  const dispatch = () => {
    if (data.length) onEvent(name, data.join("\n"), id);
    name = "message";
    data = [];
    id = null;
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let nl;
    while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
      if (line === "") {
        dispatch();
        continue;
      }
      if (line.startsWith(":")) continue; // a keep-alive comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") name = text;
      else if (field === "data") data.push(text);
      else if (field === "id") id = text === "" ? null : Number(text);
    }
  }
}
