// Överblick's demo page: signs in as one of the demo's people, opens the live overview
// (GraphQL over Server-Sent Events, read with fetch so the token goes in a header) and
// re-renders the whole page from each event, so a late source or a change simply shows up.
// Falls back to one plain query when the stream cannot be opened. No framework, no build step.
"use strict";

(() => {
  // One selection for both transports, so the stream and the fallback render the same.
  const SELECTION = `{
    complete
    patient { personId name }
    contacts { id role roleText name profession careUnit { name } phone provenance { sourceId sourceName } }
    carePlans { id title kind status description start end nextReview owner careUnit { name } provenance { sourceId sourceName } }
    agreements { id kind description status responsible start due carePlan provenance { sourceId sourceName } }
    medications { id name dosage status start end prescriber reason provenance { sourceId sourceName } }
    bookings(status: UPCOMING) { id start end status title serviceType careUnit { name } location practitioner provenance { sourceId sourceName } }
    labReports(first: 10) {
      nodes {
        id title time status laboratory { name } conclusion
        results { id analysis value { value unit } valueText abnormal referenceRange { text low { value unit } high { value unit } } }
        provenance { sourceId sourceName }
      }
    }
    measurements(first: 300) {
      nodes { id name time concept { id nameSv } value { value unit } valueText components { name value { value unit } } }
    }
    sources { source sourceName domain state changed aggregated code }
  }`;
  const SUBSCRIPTION = `subscription Overview($patient: PersonId, $purpose: Purpose, $live: Boolean!) {
    overview(patient: $patient, purpose: $purpose, live: $live) ${SELECTION}
  }`;
  const QUERY = `query Overview($patient: PersonId, $purpose: Purpose) {
    overview(patient: $patient, purpose: $purpose) ${SELECTION}
  }`;
  // The service's own Swedish words for enum values (Query.labels).
  const LABELS_QUERY = `query Labels($enums: [String!]) {
    labels(enums: $enums) { enums { name values { value label } } }
  }`;
  const LABELLED_ENUMS = [
    "SourceState", "Domain", "ContactRole", "CarePlanKind", "PlanStatus", "AgreementKind",
    "AgreementStatus", "MedicationStatus", "BookingStatus", "ResultStatus", "AbnormalFlag",
  ];

  // Each section of the page, the list it shows and the domain its sources report under.
  const SECTIONS = [
    { name: "contacts", domain: "CONTACTS" },
    { name: "carePlans", domain: "CARE_PLANS" },
    { name: "agreements", domain: "AGREEMENTS" },
    { name: "medications", domain: "MEDICATIONS" },
    { name: "bookings", domain: "BOOKINGS" },
    { name: "labReports", domain: "LAB_RESULTS" },
    { name: "measurements", domain: "MEASUREMENTS" },
  ];

  // What a person is told for each error code; the API's own messages are for developers.
  const NOTICES = {
    CONSENT_REQUIRED:
      "Patienten har inte gett samtycke för din vårdenhet. Du ser bara uppgifter från din egen vårdgivare. Registrera patientens samtycke, eller använd nödåtkomst om det är en nödsituation.",
    FORBIDDEN: "Du har inte behörighet att se den här översikten.",
    FORBIDDEN_LIST: "Vissa delar av översikten är inte delade med dig.",
    UNAUTHENTICATED: "Inloggningen gäller inte längre. Logga in igen.",
    REASON_REQUIRED: "Nödåtkomst kräver att du anger ett skäl.",
    INVALID_PERSON_ID: "Personnumret är inte giltigt.",
    ACCESS_CHECK_UNAVAILABLE:
      "Behörigheten kan inte kontrolleras just nu, så inget kan visas. Försök igen om en stund.",
    AUDIT_UNAVAILABLE:
      "Åtkomstloggen kan inte skrivas just nu, så inget kan visas. Försök igen om en stund.",
    ACCESS_CHANGED: "Det du får se har ändrats. Logga in igen för att se översikten som den är nu.",
    SUBSCRIPTION_ENDED:
      "Översikten uppdateras inte längre. Logga in igen för att fortsätta få uppdateringar.",
    SLOW_CONSUMER: "Översikten hann inte visa alla uppdateringar och slutade uppdateras. Logga in igen.",
    TOO_MANY_SUBSCRIPTIONS: "Du har för många översikter öppna. Stäng någon och försök igen.",
    RATE_LIMITED: "För många förfrågningar. Vänta en stund och försök igen.",
    SOURCE_TIMEOUT: "Någon källa svarade inte i tid. Dess uppgifter saknas i översikten.",
    SOURCE_ERROR: "Någon källa svarade med ett fel. Dess uppgifter saknas i översikten.",
    SOURCE_UNAVAILABLE: "Någon källa är inte tillgänglig just nu. Dess uppgifter saknas i översikten.",
    SOURCE_OVERLOADED: "Någon källa är överbelastad just nu. Dess uppgifter saknas i översikten.",
    SOURCE_INCOMPLETE: "Några uppgifter från en källa kunde inte läsas och visas inte.",
    ENGAGEMENT_INDEX_UNAVAILABLE:
      "Registret över var uppgifterna finns svarade inte, så alla källor tillfrågades.",
  };

  // Which state a source shows when its domains differ: the one that most needs saying.
  const STATE_ORDER = [
    "PENDING", "TIMED_OUT", "FAILED", "STALE_SOURCE_FAILED", "UNKNOWN", "FROM_CACHE", "FROM_SOURCE",
  ];

  const page = {
    people: [],
    labels: {},
    stream: null, // the AbortController of the running overview
    rendered: false,
    noticeKey: "",
  };

  const $ = (selector, root = document) => root.querySelector(selector);

  /** An element with attributes (`true`: present, null/false: left out) and children. */
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    setAttributes(node, attributes);
    appendAll(node, children);
    return node;
  }

  function svg(tag, attributes = {}, ...children) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    setAttributes(node, attributes);
    appendAll(node, children);
    return node;
  }

  function setAttributes(node, attributes) {
    for (const [name, value] of Object.entries(attributes)) {
      if (value === true) node.setAttribute(name, "");
      else if (value !== null && value !== undefined && value !== false) {
        node.setAttribute(name, String(value));
      }
    }
  }

  function appendAll(node, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
  }

  function label(enumName, value) {
    return (page.labels[enumName] && page.labels[enumName][value]) || value;
  }

  // Dates: `Date` scalars are calendar days, `DateTime`s instants shown in Swedish time.
  const dayFormat = new Intl.DateTimeFormat("sv-SE", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  const timeFormat = new Intl.DateTimeFormat("sv-SE", {
    weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
    timeZone: "Europe/Stockholm",
  });
  const shortDayFormat = new Intl.DateTimeFormat("sv-SE", { day: "numeric", month: "short", year: "numeric", timeZone: "Europe/Stockholm" });

  function day(date) {
    return date ? dayFormat.format(new Date(date + "T00:00:00Z")) : null;
  }

  function instant(time) {
    return time ? timeFormat.format(new Date(time)) : null;
  }

  function period(start, end) {
    if (start && end) return `${day(start)} – ${day(end)}`;
    if (start) return `från ${day(start)}`;
    if (end) return `till ${day(end)}`;
    return null;
  }

  function quantity(q) {
    if (!q) return null;
    const number = q.value.toLocaleString("sv-SE", { maximumFractionDigits: 2 });
    return q.unit ? `${number} ${q.unit}` : number;
  }

  function sourceIds(item) {
    return [...new Set((item.provenance || []).map((p) => p.sourceId))].join(" ");
  }

  function sourceLine(item) {
    const names = [...new Set((item.provenance || []).map((p) => p.sourceName))];
    return names.length ? el("p", { class: "from" }, `Källa: ${names.join(", ")}`) : null;
  }

  /** A definition list of the pairs that have a value. */
  function facts(pairs) {
    const shown = pairs.filter(([, value]) => value !== null && value !== undefined && value !== "");
    if (!shown.length) return null;
    return el("dl", { class: "facts" }, shown.map(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
  }

  // ---- Signing in ----------------------------------------------------------------------

  async function loadPeople() {
    const holder = $("#people");
    let people;
    try {
      const response = await fetch("/demo/identities", { headers: { accept: "application/json" } });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      people = await response.json();
    } catch (e) {
      holder.replaceChildren(el("p", { class: "notice", "data-notice": "IDENTITIES" }, "Demons personer kunde inte hämtas. Ladda om sidan."));
      return;
    }
    page.people = people;
    holder.replaceChildren(
      ...people.map((person) =>
        el("div", { class: "person" },
          el("input", { type: "radio", name: "who", id: `who-${person.id}`, value: person.id, required: true }),
          el("label", { for: `who-${person.id}` }, person.label))),
    );
    // `?som=<id>` signs in at once, so a reload (or a link) keeps the chosen person.
    const wanted = new URLSearchParams(window.location.search).get("som");
    const person = people.find((p) => p.id === wanted);
    if (person) {
      $(`#who-${person.id}`).checked = true;
      start(person);
    }
  }

  function onSignIn(event) {
    event.preventDefault();
    const chosen = new FormData(event.target).get("who");
    const person = page.people.find((p) => p.id === chosen);
    if (!person) {
      setStatus("idle", "Välj vem du vill logga in som.");
      return;
    }
    const url = new URL(window.location.href);
    url.searchParams.set("som", person.id);
    window.history.replaceState(null, "", url);
    start(person);
  }

  // ---- Talking to the API --------------------------------------------------------------

  function headers(person, accept) {
    return {
      authorization: `Bearer ${person.token}`,
      "content-type": "application/json",
      accept,
    };
  }

  async function loadLabels(person, signal) {
    try {
      const response = await fetch("/graphql", {
        method: "POST",
        headers: { ...headers(person, "application/json"), "accept-language": "sv" },
        body: JSON.stringify({ query: LABELS_QUERY, variables: { enums: LABELLED_ENUMS } }),
        signal,
      });
      const body = await response.json();
      const labels = {};
      for (const e of (body.data && body.data.labels && body.data.labels.enums) || []) {
        labels[e.name] = Object.fromEntries(e.values.map((v) => [v.value, v.label]));
      }
      page.labels = labels;
    } catch (e) {
      // Without labels the page shows the API's enum values: readable enough, never blocking.
    }
  }

  async function start(person) {
    if (page.stream) page.stream.abort();
    const controller = new AbortController();
    page.stream = controller;
    page.rendered = false;
    page.noticeKey = "";
    page.last = null;
    $("#notices").replaceChildren();
    $("#sources").replaceChildren();
    for (const { name } of SECTIONS) {
      const section = $(`section[data-section="${name}"]`);
      section.dataset.state = "pending";
      $(".content", section).replaceChildren();
    }
    $("#patient-name").textContent = "Översikt";
    $("#oversikt").hidden = false;
    setStatus("pending", `Loggar in som ${person.label}…`);
    await loadLabels(person, controller.signal);
    if (controller.signal.aborted) return;

    const variables = { patient: person.patient, purpose: person.purpose || null };
    document.body.dataset.transport = "sse";
    let events = 0;
    try {
      await subscribe(person, { ...variables, live: true }, controller.signal, () => {
        events += 1;
      });
    } catch (e) {
      if (controller.signal.aborted) return;
      if (events > 0) {
        setStatus("error", "Förbindelsen med tjänsten bröts. Logga in igen för att se det senaste.");
        return;
      }
    }
    if (controller.signal.aborted) return;
    if (events === 0) {
      // No event at all: the stream could not be opened (a proxy, an old browser). One plain
      // query still shows the overview, without the live updates.
      await queryOnce(person, variables, controller.signal);
      return;
    }
    if (page.status === "live" || page.status === "pending") {
      setStatus("ended", "Översikten uppdateras inte längre. Logga in igen för att se det senaste.");
    }
  }

  /**
   * GraphQL over Server-Sent Events: POST with `Accept: text/event-stream`, then `next` events
   * (each a whole GraphQL response, shown at once and `counted`) until `complete`. Resolves
   * when the stream ends; throws when it cannot be opened or breaks.
   */
  async function subscribe(person, variables, signal, counted) {
    const response = await fetch("/graphql", {
      method: "POST",
      headers: headers(person, "text/event-stream"),
      body: JSON.stringify({ query: SUBSCRIPTION, variables }),
      signal,
    });
    const type = response.headers.get("content-type") || "";
    if (!response.ok || !type.startsWith("text/event-stream") || !response.body) {
      throw new Error(`no event stream (HTTP ${response.status})`);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      // Frames end with a blank line; a line may end with CRLF, CR or LF.
      for (;;) {
        const match = /\r\n\r\n|\n\n|\r\r/.exec(buffer);
        if (!match) break;
        const frame = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        const event = parseFrame(frame);
        if (event.type === "next" && event.data) {
          counted();
          show(JSON.parse(event.data), "sse");
        } else if (event.type === "complete") {
          await reader.cancel();
          return;
        }
      }
    }
  }

  /** One SSE frame's event type and data (`:` lines are keep-alive comments). */
  function parseFrame(frame) {
    let type = "message";
    const data = [];
    for (const line of frame.split(/\r\n|\r|\n/)) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") type = value;
      else if (field === "data") data.push(value);
    }
    return { type, data: data.join("\n") };
  }

  async function queryOnce(person, variables, signal) {
    document.body.dataset.transport = "query";
    try {
      const response = await fetch("/graphql", {
        method: "POST",
        headers: headers(person, "application/graphql-response+json, application/json"),
        body: JSON.stringify({ query: QUERY, variables }),
        signal,
      });
      show(await response.json(), "query");
    } catch (e) {
      if (signal.aborted) return;
      setStatus("error", "Tjänsten kunde inte nås. Försök igen om en stund.");
    }
  }

  // ---- Rendering -----------------------------------------------------------------------

  function setStatus(status, text) {
    page.status = status;
    const node = $("#status");
    node.dataset.status = status;
    node.textContent = text;
  }

  /** Renders one GraphQL response: an event of the stream or the fallback query's answer. */
  function show(response, transport) {
    const overview = response && response.data ? response.data.overview : null;
    const errors = (response && response.errors) || [];
    showNotices(errors);
    if (!overview) {
      if (page.rendered) {
        // A stream's last event (its lifetime, a change of access): what was shown stays, the
        // notice says why it no longer updates.
        setStatus("ended", "Översikten uppdateras inte längre.");
      } else {
        setStatus("error", "Översikten kunde inte visas.");
      }
      return;
    }
    page.rendered = true;
    render(overview, errors);
    const sources = overview.sources.filter((s) => !s.aggregated);
    const waiting = new Set(sources.filter((s) => s.state === "PENDING").map((s) => s.source));
    const all = new Set(sources.map((s) => s.source));
    if (!overview.complete) {
      setStatus("pending", `Hämtar uppgifter: ${all.size - waiting.size} av ${all.size} källor har svarat.`);
    } else if (transport === "sse") {
      setStatus("live", `Alla ${all.size} källor har svarat. Översikten uppdateras när något ändras.`);
    } else {
      setStatus("complete", `Alla ${all.size} källor har svarat.`);
    }
  }

  function showNotices(errors) {
    const codes = new Map();
    for (const error of errors) {
      const code = (error.extensions && error.extensions.code) || "ERROR";
      const key = code === "FORBIDDEN" && error.path && error.path.length > 1 ? "FORBIDDEN_LIST" : code;
      if (!codes.has(key)) codes.set(key, code);
    }
    const key = [...codes.keys()].sort().join(",");
    // Re-rendering the same notices on every event would have screen readers repeat them.
    if (key === page.noticeKey) return;
    page.noticeKey = key;
    $("#notices").replaceChildren(
      ...[...codes].map(([key, code]) =>
        el("p", { class: "notice", "data-notice": code }, NOTICES[key] || `Något gick fel (${code}).`)),
    );
  }

  function render(overview, errors) {
    const patient = overview.patient;
    $("#patient-name").textContent = `Översikt för ${(patient && patient.name) || (patient && patient.personId) || "patienten"}`;
    const statuses = overview.sources.filter((s) => !s.aggregated);
    renderSources(statuses);
    const renderers = {
      contacts: renderContacts,
      carePlans: renderCarePlans,
      agreements: renderAgreements,
      medications: renderMedications,
      bookings: renderBookings,
      labReports: (c) => renderLabReports(c ? c.nodes : null),
      measurements: (c) => renderMeasurements(c ? c.nodes : null),
    };
    for (const { name, domain } of SECTIONS) {
      const section = $(`section[data-section="${name}"]`);
      const content = $(".content", section);
      const value = overview[name];
      const mine = statuses.filter((s) => s.domain === domain);
      const pending = mine.some((s) => s.state === "PENDING");
      section.setAttribute("aria-busy", pending ? "true" : "false");
      if (value === null || value === undefined) {
        const error = errors.find((e) => e.path && e.path[1] === name);
        const code = error && error.extensions ? error.extensions.code : null;
        section.dataset.state = code === "FORBIDDEN" ? "forbidden" : "error";
        content.replaceChildren(el("p", { class: "empty" },
          code === "FORBIDDEN" ? "Den här delen är inte delad med dig." : "Den här delen kunde inte visas."));
        continue;
      }
      const items = renderers[name](value);
      if (items) {
        section.dataset.state = "ok";
        content.replaceChildren(items);
      } else {
        section.dataset.state = pending ? "pending" : "empty";
        content.replaceChildren(el("p", { class: "empty" }, pending ? "Väntar på svar från källorna…" : "Inget att visa."));
      }
    }
  }

  function renderSources(statuses) {
    const bySource = new Map();
    for (const s of statuses) {
      const entry = bySource.get(s.source) || { id: s.source, name: s.sourceName, states: [], changed: false };
      entry.states.push(s.state);
      entry.changed = entry.changed || s.changed;
      bySource.set(s.source, entry);
    }
    const chips = [...bySource.values()]
      .sort((a, b) => a.name.localeCompare(b.name, "sv"))
      .map((source) => {
        const state = STATE_ORDER.find((st) => source.states.includes(st)) || source.states[0];
        return el("li", {
          "data-source": source.id,
          "data-state": state,
          "data-changed": source.changed,
        },
        el("span", { class: "name" }, source.name),
        el("span", { class: "state" }, label("SourceState", state)),
        source.changed ? el("span", { class: "changed" }, "ny information") : null);
      });
    $("#sources").replaceChildren(...chips);
    $('section[data-section="sources"]').dataset.state = statuses.some((s) => s.state === "PENDING") ? "pending" : "ok";
  }

  function list(items, render) {
    if (!items || !items.length) return null;
    return el("ul", { class: "cards" }, items.map(render));
  }

  function renderContacts(contacts) {
    return list(contacts, (c) =>
      el("li", { "data-source": sourceIds(c) },
        el("p", { class: "title" }, c.name || "Namn saknas"),
        facts([
          ["Roll", c.roleText || label("ContactRole", c.role)],
          ["Yrke", c.profession],
          ["Vårdenhet", c.careUnit && c.careUnit.name],
          ["Telefon", c.phone],
        ]),
        sourceLine(c)));
  }

  function renderCarePlans(plans) {
    return list(plans, (p) =>
      el("li", { "data-source": sourceIds(p) },
        el("p", { class: "title" }, p.title),
        p.description ? el("p", {}, p.description) : null,
        facts([
          ["Typ", label("CarePlanKind", p.kind)],
          ["Status", label("PlanStatus", p.status)],
          ["Gäller", period(p.start, p.end)],
          ["Följs upp", day(p.nextReview)],
          ["Ansvarig", p.owner],
          ["Vårdenhet", p.careUnit && p.careUnit.name],
        ]),
        sourceLine(p)));
  }

  function renderAgreements(agreements) {
    return list(agreements, (a) =>
      el("li", { "data-source": sourceIds(a) },
        el("p", { class: "title" }, a.description),
        facts([
          ["Typ", label("AgreementKind", a.kind)],
          ["Status", label("AgreementStatus", a.status)],
          ["Vem", a.responsible],
          ["Från", day(a.start)],
          ["Senast", day(a.due)],
          ["Vårdplan", a.carePlan],
        ]),
        sourceLine(a)));
  }

  function renderMedications(medications) {
    return list(medications, (m) =>
      el("li", { "data-source": sourceIds(m) },
        el("p", { class: "title" }, m.name),
        facts([
          ["Dosering", m.dosage],
          ["Mot", m.reason],
          ["Status", label("MedicationStatus", m.status)],
          ["Period", period(m.start, m.end)],
          ["Förskrivare", m.prescriber],
        ]),
        sourceLine(m)));
  }

  function renderBookings(bookings) {
    return list(bookings, (b) =>
      el("li", { "data-source": sourceIds(b) },
        el("p", { class: "title" }, instant(b.start)),
        facts([
          ["Vad", b.title || b.serviceType],
          ["Var", [b.careUnit && b.careUnit.name, b.location].filter(Boolean).join(", ")],
          ["Hos", b.practitioner],
          ["Status", label("BookingStatus", b.status)],
        ]),
        sourceLine(b)));
  }

  function renderLabReports(reports) {
    return list(reports, (r) =>
      el("li", { "data-source": sourceIds(r) },
        el("p", { class: "title" }, r.title),
        facts([
          ["Provtagning", instant(r.time)],
          ["Laboratorium", r.laboratory && r.laboratory.name],
          ["Status", label("ResultStatus", r.status)],
          ["Bedömning", r.conclusion],
        ]),
        r.results.length ? resultTable(r.results) : null,
        sourceLine(r)));
  }

  function resultTable(results) {
    return el("table", { class: "results" },
      el("thead", {}, el("tr", {},
        el("th", { scope: "col" }, "Analys"),
        el("th", { scope: "col" }, "Resultat"),
        el("th", { scope: "col" }, "Referens"),
        el("th", { scope: "col" }, "Avvikelse"))),
      el("tbody", {}, results.map((r) => {
        const range = r.referenceRange;
        const reference = range ? range.text || [quantity(range.low), quantity(range.high)].filter(Boolean).join(" – ") : "";
        return el("tr", {},
          el("th", { scope: "row" }, r.analysis),
          el("td", {}, quantity(r.value) || r.valueText || ""),
          el("td", {}, reference),
          el("td", {}, r.abnormal ? label("AbnormalFlag", r.abnormal) : ""));
      })));
  }

  // ---- Measurements as charts ----------------------------------------------------------

  function renderMeasurements(measurements) {
    if (!measurements) return null;
    // Kinds in the order of their newest measurement (the list is newest first).
    const kinds = new Map();
    for (const m of measurements) {
      if (!m.time) continue;
      const id = (m.concept && m.concept.id) || m.name;
      if (!kinds.has(id)) kinds.set(id, { id, title: (m.concept && m.concept.nameSv) || m.name, lines: new Map() });
      const kind = kinds.get(id);
      const at = Date.parse(m.time);
      const parts = m.components && m.components.length
        ? m.components.filter((c) => c.value).map((c) => [c.name, c.value])
        : m.value ? [[kind.title, m.value]] : [];
      for (const [name, value] of parts) {
        if (!kind.lines.has(name)) kind.lines.set(name, []);
        kind.lines.get(name).push({ at, value: value.value, unit: value.unit });
      }
    }
    const figures = [...kinds.values()].filter((k) => k.lines.size).map(chart);
    return figures.length ? el("div", { class: "charts" }, figures) : null;
  }

  let chartCount = 0;

  function chart(kind) {
    chartCount += 1;
    const captionId = `chart-${chartCount}`;
    const lines = [...kind.lines].map(([name, points]) => [name, points.slice().sort((a, b) => a.at - b.at)]);
    const all = lines.flatMap(([, points]) => points);
    const unit = all[0].unit || "";
    const latest = lines.map(([name, points]) => {
      const p = points[points.length - 1];
      return `${lines.length > 1 ? name + " " : ""}${quantity(p)}`;
    }).join(", ");
    const newest = Math.max(...all.map((p) => p.at));
    const caption = el("figcaption", { id: captionId },
      el("strong", {}, kind.title), ` · senast ${latest} (${shortDayFormat.format(new Date(newest))})`);
    const figure = el("figure", { "data-chart": kind.id, "aria-labelledby": captionId }, caption);
    if (all.length > 1) figure.append(drawing(lines, unit, captionId));
    figure.append(valuesTable(lines));
    return figure;
  }

  function drawing(lines, unit, captionId) {
    const width = 640, height = 220, left = 56, right = 16, top = 16, bottom = 32;
    const all = lines.flatMap(([, points]) => points);
    const t0 = Math.min(...all.map((p) => p.at)), t1 = Math.max(...all.map((p) => p.at));
    let v0 = Math.min(...all.map((p) => p.value)), v1 = Math.max(...all.map((p) => p.value));
    const pad = (v1 - v0) * 0.1 || Math.abs(v0) * 0.1 || 1;
    v0 -= pad; v1 += pad;
    const x = (t) => left + (t1 === t0 ? (width - left - right) / 2 : ((t - t0) / (t1 - t0)) * (width - left - right));
    const y = (v) => top + (1 - (v - v0) / (v1 - v0)) * (height - top - bottom);
    const number = (v) => v.toLocaleString("sv-SE", { maximumFractionDigits: 1 });
    const picture = svg("svg", {
      viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": captionId, class: "chart",
    },
    svg("line", { x1: left, y1: top, x2: left, y2: height - bottom, class: "axis" }),
    svg("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, class: "axis" }),
    svg("text", { x: left - 6, y: (y(v1 - pad) + 4).toFixed(1), "text-anchor": "end", class: "tick" }, number(v1 - pad)),
    svg("text", { x: left - 6, y: (y(v0 + pad) + 4).toFixed(1), "text-anchor": "end", class: "tick" }, number(v0 + pad)),
    svg("text", { x: left, y: height - 10, "text-anchor": "start", class: "tick" }, shortDayFormat.format(new Date(t0))),
    svg("text", { x: width - right, y: height - 10, "text-anchor": "end", class: "tick" }, shortDayFormat.format(new Date(t1))),
    unit ? svg("text", { x: 4, y: top - 4, class: "tick" }, unit) : null,
    lines.map(([name, points], i) => svg("g", { class: `series series-${i % 3}` },
      svg("title", {}, name),
      svg("polyline", { points: points.map((p) => `${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ") }),
      points.map((p) => svg("circle", { cx: x(p.at).toFixed(1), cy: y(p.value).toFixed(1), r: 3 })),
      // Several lines (a blood pressure's parts): each named at its start, in its colour.
      lines.length > 1
        ? svg("text", { x: left + 6, y: (y(points[0].value) - 6).toFixed(1), class: "tick legend" }, name)
        : null)));
    return picture;
  }

  function valuesTable(lines) {
    const rows = lines.flatMap(([name, points]) => points.map((p) => ({ name, ...p })))
      .sort((a, b) => b.at - a.at);
    return el("details", {},
      el("summary", {}, "Visa värdena"),
      el("table", { class: "values" },
        el("thead", {}, el("tr", {},
          el("th", { scope: "col" }, "Datum"),
          lines.length > 1 ? el("th", { scope: "col" }, "Mått") : null,
          el("th", { scope: "col" }, "Värde"))),
        el("tbody", {}, rows.map((r) => el("tr", {},
          el("td", {}, shortDayFormat.format(new Date(r.at))),
          lines.length > 1 ? el("td", {}, r.name) : null,
          el("td", {}, quantity(r)))))));
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("#signin").addEventListener("submit", onSignIn);
    loadPeople();
  });
})();
