/* The query page's editor: YASQE (vendored in static/editor/) over the page's own form.
 *
 * Without this script (or without YASQE) the form still works: it sends the query to
 * /sparql, which answers with the results page, or with this page again showing the
 * error. With it, the query is edited with highlighting, its syntax checked as it is
 * typed and the project's prefixes completed; results and errors are loaded into this
 * page, so the query stays in the editor. Nothing is fetched from another host.
 */
(function () {
  "use strict";
  const form = document.getElementById("query-form");
  if (!form || !window.Yasqe) return;
  const Yasqe = window.Yasqe;
  const textarea = document.getElementById("query");
  const results = document.getElementById("results");
  const errorBox = document.getElementById("query-error");
  const runButton = document.getElementById("run");
  const data = JSON.parse(document.getElementById("editor-data").textContent);

  // the project's prefixes, offered (and declared) when one is typed; YASQE's own list
  // of common prefixes is bundled too, so nothing is asked of prefix.cc
  Yasqe.forkAutocompleter("prefixes", {
    name: "tipgraph-prefixes",
    get: () => Promise.resolve(data.prefixes.map(([prefix, iri]) => `${prefix}: <${iri}>`)),
  }, false);

  const holder = document.createElement("div");
  holder.className = "editor";
  textarea.parentNode.insertBefore(holder, textarea);
  textarea.hidden = true;
  const run = () => { runQuery(1); };
  // the completers of properties and classes ask a remote service (LOV): not these.
  // (Set on the defaults: YASQE merges a list given to it into theirs, item by item.)
  Yasqe.defaults.autocompleters = ["tipgraph-prefixes", "variables"];
  const editor = new Yasqe(holder, {
    value: textarea.value,
    persistenceId: null,          // the page's query, not one kept from an earlier visit
    consumeShareLink: null,
    createShareableLink: null,
    showQueryButton: false,
    requestConfig: { endpoint: form.action },  // never YASQE's default remote endpoint
    editorHeight: "22rem",
    extraKeys: { "Ctrl-Enter": run, "Cmd-Enter": run },
  });
  window.tipgraphEditor = editor;  // for the browser tests and the console

  let shown = "";     // the query whose results are on the page (pages are of it)
  let marks = [];

  function clearError() {
    marks.forEach((clear) => clear());
    marks = [];
    errorBox.hidden = true;
    errorBox.textContent = "";
  }

  /* Where the editor's own grammar check (YASQE's, as the gutter's warning shows it)
   * stops reading the query: the first token it cannot take, or null. */
  function checkerError() {
    const doc = editor.getDoc();
    for (let at = 0; at < doc.lineCount(); at++) {
      const token = editor.getLineTokens(at, true).find((t) => t.state && t.state.OK === false);
      if (token) return { at: at, from: token.start, to: token.end };
    }
    return null;
  }

  /* Show an error (an element of the server's page, or a sentence) and mark where the
   * query goes wrong: the line's background and the characters there. The server's
   * parser names the furthest place it reached (often the end of the query: "error at
   * 4:2" for a mistake on line 3); when the editor's own check stops earlier, that is
   * the place marked and named. */
  function showError(source, line, column) {
    clearError();
    if (typeof source === "string") {
      errorBox.textContent = source;
    } else {
      errorBox.replaceChildren(...Array.from(source.childNodes, (n) => document.importNode(n, true)));
    }
    errorBox.hidden = false;
    let place = null;
    if (line > 0) {
      const doc = editor.getDoc();
      const at = Math.min(line, doc.lineCount()) - 1;
      const ch = Math.max(0, Math.min((column || 1) - 1, doc.getLine(at).length));
      place = { at: at, from: Math.max(0, ch - 1), to: Math.max(ch, 1) };
      const own = checkerError();
      if (own && (own.at < place.at || (own.at === place.at && own.from < place.from))) {
        place = own;
        const where = errorBox.querySelector(".where");
        if (where) where.textContent = ` (line ${own.at + 1}, column ${own.from + 1})`;
      }
    }
    errorBox.dataset.line = place ? String(place.at + 1) : "";
    errorBox.dataset.column = place ? String(place.from + 1) : "";
    if (place) {
      const doc = editor.getDoc();
      const handle = editor.addLineClass(place.at, "background", "query-error-line");
      const mark = doc.markText({ line: place.at, ch: place.from }, { line: place.at, ch: place.to },
                                { className: "query-error-mark" });
      marks.push(() => editor.removeLineClass(handle, "background", "query-error-line"),
                 () => mark.clear());
      doc.setCursor({ line: place.at, ch: place.from });
      editor.scrollIntoView({ line: place.at, ch: place.from }, 80);
    }
  }

  function showServerError(page) {
    const box = page.getElementById("query-error");
    if (box) {
      showError(box, Number(box.dataset.line), Number(box.dataset.column));
    }
    return Boolean(box);
  }

  async function load(query, page) {
    const body = new URLSearchParams({ query: query, format: "html", page: String(page) });
    results.setAttribute("aria-busy", "true");
    runButton.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST", body: body, headers: { Accept: "text/html" },
      });
      const text = await response.text();
      const type = response.headers.get("Content-Type") || "";
      const html = type.startsWith("text/html")
        ? new DOMParser().parseFromString(text, "text/html") : null;
      if (!response.ok) {
        results.replaceChildren();  // those of another query
        shown = "";
        if (!html || !showServerError(html)) showError(text.trim() || response.statusText);
        return;
      }
      const section = html && html.getElementById("results");
      if (!section) {
        showError("The endpoint answered with no results table.");
        return;
      }
      clearError();
      shown = query;
      results.replaceChildren(...Array.from(section.childNodes, (n) => document.importNode(n, true)));
    } catch (error) {
      showError(`The endpoint could not be reached: ${error}`);
    } finally {
      results.removeAttribute("aria-busy");
      runButton.disabled = false;
    }
  }

  function runQuery(page) {
    textarea.value = editor.getValue();
    return load(textarea.value, page);
  }

  form.addEventListener("submit", (event) => {
    textarea.value = editor.getValue();
    if (form.elements.format.value !== "html") return;  // a download: the browser saves it
    event.preventDefault();
    runQuery(1);
  });

  // the pages of a long answer, loaded here too
  results.addEventListener("click", (event) => {
    const link = event.target.closest("a.page");
    if (!link || !shown) return;
    event.preventDefault();
    load(shown, Number(link.dataset.page));
  });

  // the shipped queries: "edit" puts one in the editor, "run" runs it too
  document.querySelectorAll(".examples a[data-example]").forEach((link) => {
    link.addEventListener("click", (event) => {
      const text = data.examples[link.dataset.example];
      if (text === undefined) return;
      event.preventDefault();
      editor.setValue(text);
      clearError();
      holder.scrollIntoView({ block: "start" });
      if (link.classList.contains("run")) runQuery(1);
    });
  });

  editor.on("change", () => { if (marks.length) clearError(); });

  // the page came back with an error (the form was sent without this script): mark it
  if (!errorBox.hidden && errorBox.dataset.line) {
    showError(errorBox.cloneNode(true), Number(errorBox.dataset.line),
              Number(errorBox.dataset.column));
  }
})();
