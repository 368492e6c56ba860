// ProEditor's browser app: sign-in, workspaces, projects and invitations, and the editor
// (loaded on demand). One page; the path says what is shown:
//   /                       projects of the current workspace (or sign-in)
//   /app/projects/{id}      the editor
//   /app/invite/{token}     accept an invitation
import { api, get, post, patch, del, setUnauthenticatedHandler } from "./api.js";
import { h, toast, modal, confirmDialog, promptDialog, initials, colorFor } from "./dom.js";

const root = document.getElementById("app");
/** What the app knows about the signed-in user: `{user, memberships}`. */
const state = { me: null, orgId: localStorage.getItem("cos.org") };
let teardown = null;

// Uncaught errors and rejected promises are reported to the error tracker (POST /v1/errors),
// grouped there into issues; at most ten per page load, and never an error about reporting.
let errorsReported = 0;
function reportError(message, stack, location) {
  if (errorsReported >= 10 || !message) return;
  errorsReported += 1;
  const body = { message: String(message).slice(0, 2000), url: location.href };
  if (stack) body.stack = String(stack).slice(0, 16000);
  const org = state.me ? currentOrg() : null;
  if (org) body.org_id = org.org.id;
  fetch("/v1/errors", {
    method: "POST",
    headers: { "content-type": "application/json" },
    credentials: "same-origin",
    body: JSON.stringify(body),
  }).catch(() => {});
}
window.addEventListener("error", (event) => {
  reportError(event.message, event.error && event.error.stack, window.location);
});
window.addEventListener("unhandledrejection", (event) => {
  const reason = event.reason;
  reportError(reason && reason.message ? reason.message : String(reason), reason && reason.stack, window.location);
});

/** Navigates within the app without reloading. */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState({}, "", path);
  else history.pushState({}, "", path);
  route();
}

window.addEventListener("popstate", () => route());
document.addEventListener("click", (event) => {
  const link = event.target.closest?.("a[data-nav]");
  if (link && !event.ctrlKey && !event.metaKey && event.button === 0) {
    event.preventDefault();
    navigate(link.getAttribute("href"));
  }
});

setUnauthenticatedHandler(() => {
  if (state.me) {
    state.me = null;
    toast("Your session has ended. Please sign in again.", "error");
    route();
  }
});

function currentOrg() {
  const memberships = state.me?.memberships ?? [];
  return memberships.find((m) => m.org.id === state.orgId) ?? memberships[0] ?? null;
}

function setOrg(orgId) {
  state.orgId = orgId;
  localStorage.setItem("cos.org", orgId);
}

async function loadMe() {
  try {
    state.me = await get("/v1/me", { quiet401: true });
  } catch (error) {
    if (error.status === 401) state.me = null;
    else throw error;
  }
  return state.me;
}

function mount(...nodes) {
  teardown?.();
  teardown = null;
  root.replaceChildren(...nodes);
}

async function route() {
  const path = location.pathname;
  try {
    if (!state.me) await loadMe();
  } catch (error) {
    mount(h("div", { class: "boot" }, error.message));
    return;
  }
  if (!state.me) {
    mount(signInView());
    return;
  }
  const invite = path.match(/^\/app\/invite\/([^/]+)$/);
  if (invite) return acceptInvitation(decodeURIComponent(invite[1]));
  const project = path.match(/^\/app\/projects\/(prj_[0-9A-Za-z]+)$/);
  if (project) return openEditor(project[1]);
  if (path !== "/" && path !== "/app" && path !== "/app/") {
    history.replaceState({}, "", "/");
  }
  return dashboard();
}

// ---------------------------------------------------------------- sign-in

function signInView() {
  let mode = "login";
  const error = h("p", { class: "form-error", role: "alert" });
  const name = h("input", { type: "text", name: "name", autocomplete: "name", placeholder: "Ada Lovelace" });
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true, placeholder: "you@studio.com" });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true, minlength: 8 });
  const nameRow = h("label", { class: "hidden" }, "Your name", name);
  const submit = h("button", { type: "submit", class: "primary wide" }, "Sign in");
  const switcher = h("button", { type: "button", class: "link" }, "New here? Create an account");
  const title = h("h1", {}, "Sign in to ProEditor");
  const providers = h("div", { class: "providers" });

  function setMode(next) {
    mode = next;
    const signup = mode === "signup";
    nameRow.classList.toggle("hidden", !signup);
    name.required = signup;
    password.autocomplete = signup ? "new-password" : "current-password";
    submit.textContent = signup ? "Create account" : "Sign in";
    title.textContent = signup ? "Create your ProEditor account" : "Sign in to ProEditor";
    switcher.textContent = signup ? "Already have an account? Sign in" : "New here? Create an account";
    error.textContent = "";
  }
  switcher.addEventListener("click", () => setMode(mode === "login" ? "signup" : "login"));

  const form = h("form", {
    class: "auth-card",
    onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = "";
      submit.disabled = true;
      try {
        if (mode === "signup") {
          await post("/v1/auth/signup", { email: email.value.trim(), password: password.value, name: name.value.trim() });
        } else {
          await post("/v1/auth/login", { email: email.value.trim(), password: password.value }, { quiet401: true });
        }
        await loadMe();
        if (!state.me) throw new Error("Signed in, but this browser did not keep the session. Allow cookies for this site.");
        route();
      } catch (e) {
        error.textContent = e.message;
      } finally {
        submit.disabled = false;
      }
    },
  },
    h("div", { class: "brand big" }, h("span", { class: "logo" }, "▶"), "ProEditor"),
    title,
    nameRow,
    h("label", {}, "Email", email),
    h("label", {}, "Password", password),
    error,
    submit,
    providers,
    switcher,
  );

  get("/v1/auth/oidc/providers", { quiet401: true })
    .then((answer) => {
      const list = answer?.providers ?? [];
      if (!list.length) return;
      providers.append(h("div", { class: "divider" }, "or"));
      for (const provider of list) {
        const url = new URL(provider.start_url, location.origin);
        url.searchParams.set("return_to", location.pathname);
        providers.append(h("a", { class: "button wide", href: url.pathname + url.search }, `Continue with ${provider.name}`));
      }
    })
    .catch(() => {});

  return h("main", { class: "auth" }, form);
}

// ---------------------------------------------------------------- dashboard

function topBar(extra = []) {
  const org = currentOrg();
  const orgSelect = h("select", {
    "aria-label": "Workspace",
    onchange: async (event) => {
      if (event.target.value === "__new") {
        const name = await promptDialog("New workspace", "Workspace name", "", "Create");
        if (name) {
          try {
            const answer = await post("/v1/orgs", { name });
            const created = answer.org ?? answer;
            await loadMe();
            setOrg(created.id);
            toast(`Workspace “${name}” created`, "success");
          } catch (e) {
            toast(e.message, "error");
          }
        }
        dashboard();
        return;
      }
      setOrg(event.target.value);
      dashboard();
    },
  },
    (state.me.memberships ?? []).map((m) => h("option", { value: m.org.id, selected: m.org.id === org?.org.id }, `${m.org.name} · ${m.role}`)),
    h("option", { value: "__new" }, "+ New workspace…"),
  );
  const user = state.me.user;
  return h("header", { class: "topbar" },
    h("a", { href: "/", "data-nav": true, class: "brand" }, h("span", { class: "logo" }, "▶"), "ProEditor"),
    h("label", { class: "org-switcher" }, h("span", { class: "sr-only" }, "Workspace"), orgSelect),
    h("div", { class: "spacer" }),
    extra,
    h("span", { class: "avatar", title: `${user.name} (${user.email})`, style: { background: colorFor(user.id) } }, initials(user.name)),
    h("button", {
      type: "button",
      class: "ghost",
      onclick: async () => {
        try {
          await post("/v1/auth/logout");
        } catch {
          // Signed out locally either way.
        }
        state.me = null;
        navigate("/");
      },
    }, "Sign out"),
  );
}

const FORMATS = [
  { label: "1080p landscape (1920×1080)", width: 1920, height: 1080 },
  { label: "720p landscape (1280×720)", width: 1280, height: 720 },
  { label: "Vertical (1080×1920)", width: 1080, height: 1920 },
  { label: "Square (1080×1080)", width: 1080, height: 1080 },
  { label: "4K UHD (3840×2160)", width: 3840, height: 2160 },
];

async function newProjectDialog(org) {
  const values = await modal("New project", (close) => {
    const name = h("input", { type: "text", name: "name", required: true, value: "Untitled project", maxlength: 200 });
    const format = h("select", { name: "format" }, FORMATS.map((f, i) => h("option", { value: i }, f.label)));
    const fps = h("select", { name: "fps" }, [24, 25, 30, 50, 60].map((f) => h("option", { value: f, selected: f === 30 }, `${f} fps`)));
    return h("form", {
      onsubmit: (e) => {
        e.preventDefault();
        const f = FORMATS[Number(format.value)];
        close({ name: name.value.trim(), width: f.width, height: f.height, fps: Number(fps.value) });
      },
    },
      h("label", {}, "Name", name),
      h("div", { class: "row" }, h("label", {}, "Format", format), h("label", {}, "Frame rate", fps)),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => close(undefined) }, "Cancel"),
        h("button", { type: "submit", class: "primary" }, "Create project")));
  });
  if (!values) return;
  try {
    const { project } = await post(`/v1/orgs/${org.org.id}/projects`, values);
    navigate(`/app/projects/${project.id}`);
  } catch (e) {
    toast(e.message, "error");
  }
}

function projectCard(project, reload) {
  const open = `/app/projects/${project.id}`;
  const thumb = h("img", { alt: "", loading: "lazy", src: `/v1/projects/${project.id}/frame.png?scale=0.125&frame=0`, onerror: (e) => e.target.remove() });
  return h("li", { class: "card project-card", dataset: { projectId: project.id } },
    h("a", { href: open, "data-nav": true, class: "thumb", "aria-label": `Open ${project.name}` }, thumb),
    h("div", { class: "card-body" },
      h("a", { href: open, "data-nav": true, class: "title" }, project.name),
      h("div", { class: "meta" }, `${project.width}×${project.height} · ${+(project.frame_rate.num / project.frame_rate.den).toFixed(2)} fps · edited ${new Date(project.updated_at).toLocaleString()}`),
      h("div", { class: "card-actions" },
        h("button", {
          type: "button", class: "ghost small", onclick: async () => {
            const name = await promptDialog("Rename project", "Project name", project.name, "Rename");
            if (!name) return;
            try {
              await patch(`/v1/projects/${project.id}`, { name });
              toast("Project renamed", "success");
              reload();
            } catch (e) {
              toast(e.message, "error");
            }
          },
        }, "Rename"),
        h("button", {
          type: "button", class: "ghost small", onclick: async () => {
            try {
              await post(`/v1/projects/${project.id}/duplicate`);
              toast("Project duplicated", "success");
              reload();
            } catch (e) {
              toast(e.message, "error");
            }
          },
        }, "Duplicate"),
        h("button", {
          type: "button", class: "ghost small danger", onclick: async () => {
            if (!(await confirmDialog("Delete project?", `“${project.name}” and its history will be deleted for everyone. This cannot be undone.`, "Delete", true))) return;
            try {
              await del(`/v1/projects/${project.id}`);
              toast("Project deleted", "success");
              reload();
            } catch (e) {
              toast(e.message, "error");
            }
          },
        }, "Delete"))));
}

async function dashboard() {
  const org = currentOrg();
  if (!org) {
    mount(topBar(), h("main", { class: "page" }, h("p", {}, "You don't belong to any workspace yet.")));
    return;
  }
  setOrg(org.org.id);
  const list = h("ul", { class: "grid", "aria-label": "Projects" });
  const more = h("button", { type: "button", class: "ghost hidden" }, "Load more");
  let cursor = null;
  async function load(reset) {
    if (reset) {
      list.replaceChildren(h("li", { class: "muted" }, "Loading projects…"));
      cursor = null;
    }
    try {
      const page = await get(`/v1/orgs/${org.org.id}/projects?limit=48${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      if (reset) list.replaceChildren();
      for (const project of page.items) list.append(projectCard(project, () => load(true)));
      if (reset && !page.items.length) list.append(h("li", { class: "empty" }, "No projects yet. Create one to start editing."));
      cursor = page.next_cursor;
      more.classList.toggle("hidden", !cursor);
    } catch (e) {
      list.replaceChildren(h("li", { class: "form-error" }, e.message));
    }
  }
  more.addEventListener("click", () => load(false));
  prefetchEditor();
  const canManage = org.role === "owner" || org.role === "admin";
  mount(
    topBar(),
    h("main", { class: "page" },
      h("div", { class: "page-head" },
        h("h1", {}, "Projects"),
        h("button", { type: "button", class: "primary", onclick: () => newProjectDialog(org) }, "+ New project")),
      list,
      more,
      canManage ? teamSection(org) : null,
    ),
  );
  load(true);
}

function teamSection(org) {
  const items = h("ul", { class: "list", "aria-label": "Pending invitations" });
  const created = h("div", { class: "invite-link" });
  async function load() {
    try {
      const answer = await get(`/v1/orgs/${org.org.id}/invitations`);
      items.replaceChildren();
      if (!answer.items.length) items.append(h("li", { class: "muted" }, "No pending invitations."));
      for (const invitation of answer.items) {
        items.append(h("li", { class: "invitation" },
          h("span", {}, invitation.email),
          h("span", { class: "badge" }, invitation.role),
          h("span", { class: "muted" }, `expires ${new Date(invitation.expires_at).toLocaleDateString()}`),
          h("button", {
            type: "button", class: "ghost small danger", onclick: async () => {
              try {
                await del(`/v1/orgs/${org.org.id}/invitations/${invitation.id}`);
                toast("Invitation revoked", "success");
                load();
              } catch (e) {
                toast(e.message, "error");
              }
            },
          }, "Revoke")));
      }
    } catch (e) {
      items.replaceChildren(h("li", { class: "form-error" }, e.message));
    }
  }
  const email = h("input", { type: "email", required: true, placeholder: "teammate@studio.com", "aria-label": "Email to invite" });
  const role = h("select", { "aria-label": "Role" }, ["editor", "viewer", "admin"].map((r) => h("option", { value: r }, r)));
  const form = h("form", {
    class: "inline-form",
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        const { invitation } = await post(`/v1/orgs/${org.org.id}/invitations`, { email: email.value.trim(), role: role.value });
        const link = `${location.origin}/app/invite/${encodeURIComponent(invitation.token)}`;
        const field = h("input", { type: "text", readonly: true, value: link, "aria-label": "Invitation link" });
        created.replaceChildren(
          h("span", {}, `Send this link to ${invitation.email}:`), field,
          h("button", { type: "button", class: "small", onclick: () => { field.select(); navigator.clipboard?.writeText(link); toast("Link copied", "success"); } }, "Copy"));
        email.value = "";
        load();
      } catch (e) {
        toast(e.message, "error");
      }
    },
  }, email, role, h("button", { type: "submit", class: "primary" }, "Invite"));
  load();
  return h("section", { class: "team" }, h("h2", {}, "Team invitations"), form, created, items);
}

/** Lets the browser fetch the editor and its engine while the creator looks at the list. */
function prefetchEditor() {
  if (document.querySelector("link[data-editor-prefetch]")) return;
  for (const [href, as] of [["/js/editor/editor.js", "script"], ["/pkg/editor_core_wasm.js", "script"], ["/pkg/editor_core_wasm_bg.wasm", "fetch"]]) {
    document.head.append(h("link", { rel: "prefetch", href, as, "data-editor-prefetch": "" }));
  }
}

async function acceptInvitation(token) {
  mount(topBar(), h("main", { class: "page" }, h("p", {}, "Accepting the invitation…")));
  try {
    const answer = await post(`/v1/invitations/${encodeURIComponent(token)}/accept`);
    await loadMe();
    const orgId = answer?.org?.id ?? answer?.membership?.org?.id;
    if (orgId) setOrg(orgId);
    toast("Invitation accepted. Welcome to the team!", "success");
    navigate("/", { replace: true });
  } catch (e) {
    mount(topBar(), h("main", { class: "page" }, h("h1", {}, "This invitation can't be used"), h("p", {}, e.message), h("a", { href: "/", "data-nav": true }, "Go to your projects")));
  }
}

async function openEditor(projectId) {
  mount(h("div", { class: "boot" }, "Opening the editor…"));
  try {
    const { mountEditor } = await import("./editor/editor.js");
    const view = await mountEditor({ projectId, me: state.me, navigate });
    mount(view.element);
    teardown = () => view.destroy();
    view.start?.();
    /** Milliseconds from navigation to the editor's first frame on screen (for the benchmark). */
    view.firstFrameAt = performance.now();
  } catch (e) {
    mount(topBar(), h("main", { class: "page" }, h("h1", {}, "This project can't be opened"), h("p", {}, e.message), h("a", { href: "/", "data-nav": true }, "Back to projects")));
  }
}

route();
