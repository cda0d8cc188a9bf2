// The demo calendar's "New event" form: a Teams meeting added through mailconnect/meetings with the
// Teams extension's Connector as the token source, then updated or cancelled from the same form.
// app.js mounts it in the Calendar view once the extensions are loaded.

import { TeamsMeetings } from "/pkg/meetings.js";

// What each `action` of a MailconnectError asks of the user here.
const HELP = {
  reconnect: "Connect Microsoft Teams again in Settings → Extensions.",
  consent: "Ask your admin to grant consent for calendar access.",
  configuration: "Ask your admin.",
  retry: "Try again in a moment.",
};

/** <input type="datetime-local"> value (local time, minutes) for a Date, and back. */
const localInput = (date) => new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
const fromInput = (value) => new Date(value);

/**
 * Renders the form at the end of `root`. `tokens` is the Teams Connector, `graphBase` Graph's URL
 * with its version (the local stack's stand-in in the demo).
 */
export function mountTeamsMeetings(root, { tokens, graphBase }) {
  const meetings = new TeamsMeetings({ tokens, graphBase });
  const start = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 86_400_000);
  const section = document.createElement("section");
  section.className = "meeting-editor";
  section.innerHTML = `
    <h2 class="section">New event</h2>
    <form id="meeting-form" class="meeting-form">
      <label>Subject <input name="subject" required value="Design review"></label>
      <label>Start <input name="start" type="datetime-local" required value="${localInput(start)}"></label>
      <label>End <input name="end" type="datetime-local" required value="${localInput(new Date(start.getTime() + 3_600_000))}"></label>
      <label>Attendees <input name="attendees" placeholder="grace@contoso.dev, charles@contoso.dev"></label>
      <label>Cancellation note <input name="comment" value="Sorry, this meeting is cancelled."></label>
      <div class="buttons">
        <button type="submit" class="add-teams">Add Teams meeting</button>
        <button type="button" class="update-meeting secondary" hidden>Update</button>
        <button type="button" class="cancel-meeting secondary" hidden>Cancel meeting</button>
      </div>
      <p class="meeting-status" role="status"></p>
      <p class="meeting-join" hidden>Join: <a class="join-url" target="_blank" rel="noopener"></a></p>
    </form>`;
  root.append(section);

  const form = section.querySelector("form");
  const status = section.querySelector(".meeting-status");
  const join = section.querySelector(".meeting-join");
  const buttons = section.querySelectorAll("button");
  let current = null; // the meeting made here

  const fields = () => {
    const data = new FormData(form);
    return {
      subject: data.get("subject"),
      start: fromInput(data.get("start")),
      end: fromInput(data.get("end")),
      attendees: String(data.get("attendees")).split(/[,;\s]+/).filter(Boolean),
    };
  };

  const show = (meeting, text) => {
    current = meeting;
    form.dataset.eventId = meeting?.id ?? "";
    join.hidden = !meeting?.joinUrl;
    const link = join.querySelector("a");
    link.href = meeting?.joinUrl ?? "";
    link.textContent = meeting?.joinUrl ?? "";
    section.querySelector(".add-teams").hidden = Boolean(meeting);
    section.querySelector(".update-meeting").hidden = !meeting;
    section.querySelector(".cancel-meeting").hidden = !meeting;
    status.dataset.state = "ok";
    delete status.dataset.code;
    status.textContent = text;
  };

  /** Runs one Graph operation with the buttons off; errors are shown with what to do. */
  const run = async (busy, operation) => {
    buttons.forEach((b) => { b.disabled = true; });
    status.dataset.state = "busy";
    status.textContent = busy;
    try {
      await operation();
    } catch (err) {
      status.dataset.state = "error";
      status.dataset.code = err.code ?? "error";
      status.textContent = `${err.message}${HELP[err.action] ? ` ${HELP[err.action]}` : ""}`;
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    run("Adding the Teams meeting…", async () => show(await meetings.create(fields()), "Teams meeting added."));
  });
  section.querySelector(".update-meeting").addEventListener("click", () =>
    run("Updating…", async () => show(await meetings.update(current.id, fields()), "Event updated; the Teams meeting is kept.")));
  section.querySelector(".cancel-meeting").addEventListener("click", () =>
    run("Cancelling…", async () => {
      await meetings.cancel(current.id, { comment: new FormData(form).get("comment") });
      show(null, "Meeting cancelled; the attendees were told.");
    }));
}
