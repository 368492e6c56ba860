//! Browser (and Node) bindings for `editor-core`: a thin wasm-bindgen layer over the pure core.
//!
//! One [`Editor`] holds a timeline, the decoded images it refers to, a renderer with its caches
//! and the last rendered frame. JSON crosses the boundary for timelines, commands and display
//! lists; pixels cross as a view into wasm memory (no copy) or a copy into a caller's buffer.
//!
//! ```js
//! const editor = Editor.fromJson(timelineJson);
//! editor.registerImageEncoded("ast_photo", pngOrJpegBytes);
//! const result = JSON.parse(editor.apply(JSON.stringify({ type: "remove_clip", clip_id })));
//! editor.renderFrame(42, 0.5);
//! const pixels = new Uint8ClampedArray(wasmMemory().buffer, editor.framePtr(), editor.frameLen());
//! ctx.putImageData(new ImageData(pixels, editor.frameWidth(), editor.frameHeight()), 0, 0);
//! ```

use editor_core::display::DisplayList;
use editor_core::image::RgbaImage;
use editor_core::render::{Frame, MemoryImageSource, Renderer};
use editor_core::{apply, frame_at, Command, Timeline};
use wasm_bindgen::prelude::*;

/// The wasm instance's linear memory, for zero-copy views of rendered frames.
#[wasm_bindgen(js_name = wasmMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// A timeline with its images, renderer and last frame.
#[wasm_bindgen]
pub struct Editor {
    timeline: Timeline,
    images: MemoryImageSource,
    renderer: Renderer,
    frame: Option<Frame>,
    /// Non-premultiplied copy of `frame`, as canvas `ImageData` wants it; made on demand.
    straight: Vec<u8>,
    straight_valid: bool,
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

impl Editor {
    fn with_timeline(timeline: Timeline) -> Editor {
        Editor {
            timeline,
            images: MemoryImageSource::new(),
            renderer: Renderer::new(),
            frame: None,
            straight: Vec::new(),
            straight_valid: false,
        }
    }

    fn render_list(&mut self, list: &DisplayList) -> Result<(), JsError> {
        let frame = match &mut self.frame {
            Some(f) => f,
            None => self
                .frame
                .insert(Frame::new(list.width, list.height).map_err(js_error)?),
        };
        self.straight_valid = false;
        self.renderer
            .render(list, &self.images, frame)
            .map_err(js_error)?;
        Ok(())
    }

    fn straight(&mut self) -> &[u8] {
        if !self.straight_valid {
            if let Some(frame) = &self.frame {
                self.straight.resize(frame.pixels().len() * 4, 0);
                // Sizes match by construction; a mismatch would only leave stale bytes.
                let _ = frame.write_straight_rgba(&mut self.straight);
            }
            self.straight_valid = true;
        }
        &self.straight
    }
}

#[wasm_bindgen]
impl Editor {
    /// An editor over a timeline in the stored JSON format.
    #[wasm_bindgen(js_name = fromJson)]
    pub fn from_json(timeline_json: &str) -> Result<Editor, JsError> {
        let timeline = editor_core::format::from_json(timeline_json).map_err(js_error)?;
        Ok(Editor::with_timeline(timeline))
    }

    /// An editor over the reference timeline R1 (its images must still be registered).
    pub fn r1() -> Editor {
        Editor::with_timeline(editor_core::fixtures::r1())
    }

    /// Replaces the timeline (images and caches are kept).
    #[wasm_bindgen(js_name = loadTimeline)]
    pub fn load_timeline(&mut self, timeline_json: &str) -> Result<(), JsError> {
        self.timeline = editor_core::format::from_json(timeline_json).map_err(js_error)?;
        Ok(())
    }

    /// The timeline in the stored JSON format.
    #[wasm_bindgen(js_name = timelineJson)]
    pub fn timeline_json(&self) -> String {
        editor_core::format::to_json(&self.timeline)
    }

    /// Applies one command (JSON). Returns `{"ok":true,"inverse":…}` or
    /// `{"ok":false,"error":{"code":…,"message":…}}`; a refused command changes nothing.
    pub fn apply(&mut self, command_json: &str) -> String {
        let command: Command = match serde_json::from_str(command_json) {
            Ok(c) => c,
            Err(e) => {
                return serde_json::json!({
                    "ok": false,
                    "error": { "code": "malformed_command", "message": e.to_string() }
                })
                .to_string()
            }
        };
        match apply(&mut self.timeline, command) {
            Ok(applied) => {
                serde_json::json!({ "ok": true, "inverse": applied.inverse }).to_string()
            }
            Err(e) => serde_json::json!({
                "ok": false,
                "error": { "code": e.code(), "message": e.to_string() }
            })
            .to_string(),
        }
    }

    /// Timeline length in frames.
    pub fn duration(&self) -> u32 {
        u32::try_from(self.timeline.duration()).unwrap_or(u32::MAX)
    }

    /// Registers a decoded image from non-premultiplied RGBA bytes (e.g. `ImageData.data`).
    #[wasm_bindgen(js_name = registerImageRgba)]
    pub fn register_image_rgba(
        &mut self,
        asset_id: &str,
        width: u32,
        height: u32,
        rgba: &[u8],
    ) -> Result<(), JsError> {
        let image = RgbaImage::from_straight_rgba(width, height, rgba).map_err(js_error)?;
        self.images.insert(asset_id, image);
        Ok(())
    }

    /// Registers an image from PNG or JPEG file bytes, decoded in wasm.
    #[wasm_bindgen(js_name = registerImageEncoded)]
    pub fn register_image_encoded(&mut self, asset_id: &str, bytes: &[u8]) -> Result<(), JsError> {
        let image = RgbaImage::decode(bytes).map_err(js_error)?;
        self.images.insert(asset_id, image);
        Ok(())
    }

    /// Forgets an asset's images.
    #[wasm_bindgen(js_name = removeImage)]
    pub fn remove_image(&mut self, asset_id: &str) {
        self.images.remove(asset_id);
    }

    /// Hash of a registered image's decoded pixels (for decoder parity checks).
    #[wasm_bindgen(js_name = imageHash)]
    pub fn image_hash(&self, asset_id: &str) -> Option<String> {
        use editor_core::render::ImageSource;
        let img = self.images.image(asset_id, None)?;
        Some(format!(
            "{:016x}",
            editor_core::render::frame_hash(img.width(), img.height(), img.pixels())
        ))
    }

    /// The display list of a frame as JSON.
    #[wasm_bindgen(js_name = displayListJson)]
    pub fn display_list_json(&self, frame: u32, scale: f32) -> String {
        serde_json::to_string(&frame_at(&self.timeline, u64::from(frame), scale))
            .unwrap_or_default()
    }

    /// Renders a frame of the timeline at `scale` (1 = project size) into the frame buffer.
    #[wasm_bindgen(js_name = renderFrame)]
    pub fn render_frame(&mut self, frame: u32, scale: f32) -> Result<(), JsError> {
        let list = frame_at(&self.timeline, u64::from(frame), scale);
        self.render_list(&list)
    }

    /// Renders a display list given as JSON into the frame buffer.
    #[wasm_bindgen(js_name = renderDisplayList)]
    pub fn render_display_list(&mut self, list_json: &str) -> Result<(), JsError> {
        let list: DisplayList = serde_json::from_str(list_json).map_err(js_error)?;
        self.render_list(&list)
    }

    /// Width of the last rendered frame.
    #[wasm_bindgen(js_name = frameWidth)]
    pub fn frame_width(&self) -> u32 {
        self.frame.as_ref().map_or(0, Frame::width)
    }

    /// Height of the last rendered frame.
    #[wasm_bindgen(js_name = frameHeight)]
    pub fn frame_height(&self) -> u32 {
        self.frame.as_ref().map_or(0, Frame::height)
    }

    /// Address in wasm memory of the last frame's non-premultiplied RGBA bytes; valid until
    /// the next render (the buffer is reused, and moves only when the frame size grows).
    #[wasm_bindgen(js_name = framePtr)]
    pub fn frame_ptr(&mut self) -> *const u8 {
        self.straight().as_ptr()
    }

    /// Byte length of the frame buffer (`width × height × 4`).
    #[wasm_bindgen(js_name = frameLen)]
    pub fn frame_len(&self) -> usize {
        self.frame.as_ref().map_or(0, |f| f.pixels().len() * 4)
    }

    /// Copies the last frame's non-premultiplied RGBA bytes into a caller's buffer.
    #[wasm_bindgen(js_name = copyFrameInto)]
    pub fn copy_frame_into(&mut self, out: &mut [u8]) -> Result<(), JsError> {
        let straight = self.straight();
        if out.len() != straight.len() {
            return Err(JsError::new("buffer length must be width × height × 4"));
        }
        out.copy_from_slice(straight);
        Ok(())
    }

    /// Hash of the last frame (premultiplied pixels), identical to the native renderer's
    /// `Frame::hash` for the same input.
    #[wasm_bindgen(js_name = frameHash)]
    pub fn frame_hash(&self) -> String {
        self.frame
            .as_ref()
            .map_or_else(String::new, |f| format!("{:016x}", f.hash()))
    }

    /// Drops cached layers and mip levels.
    #[wasm_bindgen(js_name = clearCaches)]
    pub fn clear_caches(&mut self) {
        self.renderer.clear_caches();
    }
}
