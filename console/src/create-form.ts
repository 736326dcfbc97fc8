// The Create form: prompt, provider and model, and only the inputs the chosen
// provider can take (image, negative prompt, duration, size or aspect ratio,
// seed). Errors the API returns as data show next to the field they name.
// Only the prompt's accessible name contains "Prompt" (the negative prompt is
// labelled "Avoid"), so a lookup by that name finds one textbox.
import { html } from 'htm/preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { isReelayError, type CreateVideoTaskInput, type Provider, type ReelayClient, type Task } from './api.js';

interface Props {
  client: ReelayClient;
  providers: Provider[];
  onCreated(task: Task): void;
}

/** Form fields by the API's `field` names (image.* all land on the image box). */
const FIELD_OF: Record<string, string> = { 'image.url': 'image', 'image.file': 'image', 'image.base64': 'image', image: 'image' };
const fieldOf = (f: string | null | undefined) => (f ? (FIELD_OF[f] ?? f.replace(/^input\./, '')) : 'form');

const IMAGE_TYPES = 'image/png,image/jpeg,image/webp';

export function CreateForm({ client, providers, onCreated }: Props) {
  const initial = providers.find((p) => p.isDefault) ?? providers[0];
  const [providerId, setProviderId] = useState(initial?.id ?? '');
  const [prompt, setPrompt] = useState('');
  const [negativePrompt, setNegativePrompt] = useState('');
  const [model, setModel] = useState('');
  const [duration, setDuration] = useState('');
  const [aspectRatio, setAspectRatio] = useState('');
  const [width, setWidth] = useState('');
  const [height, setHeight] = useState('');
  const [seed, setSeed] = useState('');
  const [imageUrl, setImageUrl] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [preview, setPreview] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [notice, setNotice] = useState('');
  const fileInput = useRef<HTMLInputElement>(null);

  const provider = providers.find((p) => p.id === providerId);
  const caps = provider?.capabilities;
  const models = provider?.models ?? [];

  // The preview is a blob: URL of the picked file, released when it changes.
  useEffect(() => {
    if (!file) return setPreview(null);
    const url = URL.createObjectURL(file);
    setPreview(url);
    return () => URL.revokeObjectURL(url);
  }, [file]);

  // Inputs the new provider cannot take are cleared, so nothing hidden is sent.
  useEffect(() => {
    if (model && !models.includes(model)) setModel('');
    if (!caps?.negativePrompt) setNegativePrompt('');
    if (!caps?.seed) setSeed('');
    if (!caps?.customSize) (setWidth(''), setHeight(''));
    if (!caps?.aspectRatios.includes(aspectRatio)) setAspectRatio('');
    if (!caps?.durations) setDuration('');
    if (!caps?.imageToVideo) (setFile(null), setImageUrl(''));
    if (caps?.imageUrlOnly) setFile(null);
    setErrors({});
  }, [providerId]);

  const pick = (f: File | null | undefined) => {
    if (!f) return;
    setFile(f);
    setImageUrl('');
    setErrors((e) => ({ ...e, image: '' }));
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    const input: CreateVideoTaskInput = { prompt, provider: providerId || undefined };
    const local: Record<string, string> = {};
    const num = (name: string, raw: string, int = false) => {
      if (!raw.trim()) return undefined;
      const n = Number(raw);
      if (!Number.isFinite(n) || (int && !Number.isInteger(n))) local[name] = int ? 'a whole number, please' : 'a number, please';
      return n;
    };
    if (!prompt.trim()) local.prompt = 'Write a prompt.';
    if (negativePrompt.trim()) input.negativePrompt = negativePrompt;
    if (model) input.model = model;
    input.durationSeconds = num('durationSeconds', duration);
    input.width = num('width', width, true);
    input.height = num('height', height, true);
    input.seed = num('seed', seed, true);
    if (aspectRatio) input.aspectRatio = aspectRatio;
    if (file) input.image = { file };
    else if (imageUrl.trim()) input.image = { url: imageUrl.trim() };
    if (caps && !caps.textToVideo && !input.image) local.image = `${providerId} needs an image.`;
    for (const k of Object.keys(input) as (keyof CreateVideoTaskInput)[]) if (input[k] === undefined) delete input[k];
    setErrors(local);
    setNotice('');
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      const task = await client.createVideoTask(input);
      onCreated(task);
      setNotice(`Task created: ${task.status.toLowerCase()}${task.queuePosition ? `, #${task.queuePosition} in the queue` : ''}.`);
      setFile(null);
      if (fileInput.current) fileInput.current.value = '';
    } catch (err) {
      if (isReelayError(err)) {
        // An error result (ValidationError, UnsupportedError, RateLimitedError, …) with its code; a top-level error as it says.
        const text = err.kind === 'api' ? `${err.message}${err.retryAfterSeconds ? ` (try again in ${err.retryAfterSeconds} s)` : ''} [${err.code}]` : err.message;
        setErrors({ [fieldOf(err.field)]: text });
      } else setErrors({ form: err instanceof Error ? err.message : String(err) });
    } finally {
      setBusy(false);
    }
  };

  /** An input's error line, tied to it with aria-describedby. */
  const err = (name: string) => (errors[name] ? html`<p class="field-error" id=${`err-${name}`} role="alert">${errors[name]}</p>` : null);
  const described = (name: string) => (errors[name] ? { 'aria-invalid': 'true', 'aria-describedby': `err-${name}` } : {});
  const text = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value);
  const shownFields = new Set(['form', 'prompt', 'provider', 'model']);
  if (caps?.negativePrompt) shownFields.add('negativePrompt');
  if (caps?.durations) shownFields.add('durationSeconds');
  if (caps?.aspectRatios.length) shownFields.add('aspectRatio');
  if (caps?.customSize) (shownFields.add('width'), shownFields.add('height'));
  if (caps?.seed) shownFields.add('seed');
  if (caps?.imageToVideo) shownFields.add('image');
  // An error about a field this provider hides still shows, at the top.
  const stray = Object.entries(errors).filter(([k, v]) => v && !shownFields.has(k));

  return html`
    <section class="card create" aria-labelledby="create-title">
      <h2 id="create-title">Create</h2>
      <form onSubmit=${submit} novalidate>
        ${stray.map(([k, v]) => html`<p class="field-error" role="alert">${k}: ${v}</p>`)}
        <label for="prompt">Prompt</label>
        <textarea id="prompt" name="prompt" rows="3" value=${prompt} onInput=${text(setPrompt)} ...${described('prompt')}></textarea>
        ${err('prompt')}

        <div class="row">
          <div>
            <label for="provider">Provider</label>
            <select id="provider" value=${providerId} onChange=${text(setProviderId)} ...${described('provider')}>
              ${providers.map((p) => html`<option value=${p.id}>${p.id}${p.healthy ? '' : ' (unhealthy)'}</option>`)}
            </select>
            ${err('provider')}
          </div>
          ${models.length
            ? html`<div>
                <label for="model">Model</label>
                <select id="model" value=${model} onChange=${text(setModel)} ...${described('model')}>
                  <option value="">default</option>
                  ${models.map((m) => html`<option value=${m}>${m}</option>`)}
                </select>
                ${err('model')}
              </div>`
            : null}
        </div>
        ${provider
          ? html`<p class="caps">
              ${[caps?.textToVideo && 'text', caps?.imageToVideo && (caps.imageUrlOnly ? 'image URL' : 'image'), caps?.progress && 'live progress', caps?.cancel && 'cancel']
                .filter(Boolean)
                .join(' · ')}
            </p>`
          : null}

        ${caps?.negativePrompt
          ? html`<label for="negative-prompt">Avoid</label>
              <span class="hint" id="negative-hint">negative prompt: what the result should not show</span>
              <input id="negative-prompt" value=${negativePrompt} onInput=${text(setNegativePrompt)} aria-describedby=${errors.negativePrompt ? 'negative-hint err-negativePrompt' : 'negative-hint'} aria-invalid=${errors.negativePrompt ? 'true' : undefined} />
              ${err('negativePrompt')}`
          : null}

        <div class="row">
          ${caps?.durations
            ? html`<div>
                <label for="duration">Duration (s, ${caps.durations.min}–${caps.durations.max})</label>
                <input id="duration" type="number" inputmode="decimal" min=${caps.durations.min} max=${caps.durations.max} step="any" value=${duration} onInput=${text(setDuration)} ...${described('durationSeconds')} />
                ${err('durationSeconds')}
              </div>`
            : null}
          ${caps?.aspectRatios.length
            ? html`<div>
                <label for="aspect-ratio">Aspect ratio</label>
                <select id="aspect-ratio" value=${aspectRatio} onChange=${text(setAspectRatio)} ...${described('aspectRatio')}>
                  <option value="">default</option>
                  ${caps.aspectRatios.map((a) => html`<option value=${a}>${a}</option>`)}
                </select>
                ${err('aspectRatio')}
              </div>`
            : null}
          ${caps?.seed
            ? html`<div>
                <label for="seed">Seed</label>
                <input id="seed" type="number" inputmode="numeric" step="1" value=${seed} onInput=${text(setSeed)} ...${described('seed')} />
                ${err('seed')}
              </div>`
            : null}
        </div>
        ${caps?.customSize
          ? html`<div class="row">
              <div>
                <label for="width">Width</label>
                <input id="width" type="number" inputmode="numeric" min="1" step="1" value=${width} onInput=${text(setWidth)} ...${described('width')} />
                ${err('width')}
              </div>
              <div>
                <label for="height">Height</label>
                <input id="height" type="number" inputmode="numeric" min="1" step="1" value=${height} onInput=${text(setHeight)} ...${described('height')} />
                ${err('height')}
              </div>
            </div>`
          : null}

        ${caps?.imageToVideo
          ? html`<fieldset class="image" ...${described('image')}>
              <legend>Image${caps.textToVideo ? ' (optional)' : ''}</legend>
              ${caps.imageUrlOnly
                ? null
                : html`<div
                    class=${`drop${dragging ? ' dragging' : ''}`}
                    onDragOver=${(e: DragEvent) => (e.preventDefault(), setDragging(true))}
                    onDragLeave=${() => setDragging(false)}
                    onDrop=${(e: DragEvent) => (e.preventDefault(), setDragging(false), pick(e.dataTransfer?.files[0]))}
                  >
                    ${preview ? html`<img class="preview" src=${preview} alt="Selected image" />` : html`<span>Drop a PNG, JPEG or WebP here, or pick one:</span>`}
                    <input id="image-file" ref=${fileInput} type="file" aria-label="Image file" accept=${IMAGE_TYPES} onChange=${(e: Event) => pick((e.target as HTMLInputElement).files?.[0])} />
                    ${file ? html`<button type="button" class="link" onClick=${() => (setFile(null), fileInput.current && (fileInput.current.value = ''))}>Remove image</button>` : null}
                  </div>`}
              <label for="image-url">Image URL</label>
              <input id="image-url" type="url" placeholder="https://…" value=${imageUrl} disabled=${!!file} onInput=${text(setImageUrl)} />
              ${err('image')}
            </fieldset>`
          : null}

        <div class="actions">
          <button type="submit" class="primary" disabled=${busy}>Generate</button>
          ${busy ? html`<span class="muted">sending…</span>` : null}
        </div>
        ${err('form')}
        <p class="notice" role="status" aria-live="polite">${notice}</p>
      </form>
    </section>
  `;
}
