"""Reading darknet cfg text: sections, typed options, and the errors that name file:line."""
from __future__ import annotations

import re
import stat
import warnings
from dataclasses import dataclass, field
from pathlib import Path

Shape = tuple[int, int, int]  # (C, H, W) as darknet's out_c, out_h, out_w


class CfgError(ValueError):
    """A cfg darknet would reject (or that this reader cannot build); the message names file:line."""


class CfgWarning(UserWarning):
    """Something darknet loads with a warning of its own (an unused or repeated key); names file:line."""


# ------------------------------------------------------------------------------------- reading
@dataclass
class Section:
    """One ``[kind]`` block: its header line and its ``key -> (value, line)`` options."""

    kind: str
    line: int
    options: dict[str, tuple[str, int]] = field(default_factory=dict)


def read_sections(text: str, file: str = "<cfg>") -> list[Section]:
    """Split cfg text into sections, as darknet's ``read_cfg`` does (all whitespace removed)."""
    sections: list[Section] = []
    text = text[1:] if text.startswith("\ufeff") else text  # a UTF-8 BOM some editors write
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"\s+", "", raw)  # darknet's strip() drops every blank, even inside a line
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            if not line.endswith("]"):
                raise CfgError(f"{file}:{number}: malformed section header {raw.strip()!r}")
            sections.append(Section(line[1:-1].lower(), number))
            continue
        key, sep, value = line.partition("=")
        if not sep or not key:
            raise CfgError(f"{file}:{number}: expected key=value, got {raw.strip()!r}")
        if not sections:
            raise CfgError(f"{file}:{number}: option {key!r} before any [section]")
        value = value.split("#", 1)[0]  # an inline '#' starts a comment
        options = sections[-1].options
        if key in options:  # option_find walks the list from the front: the first value wins
            warnings.warn(CfgWarning(f"{file}:{number}: [{sections[-1].kind}] {key}={value}: repeats line "
                                     f"{options[key][1]}; darknet uses the first value, {options[key][0]}"),
                          stacklevel=2)
            continue
        options[key] = (value, number)
    return sections


def load(path_or_text: str | Path) -> tuple[str, list[Section]]:
    """The display name and sections of a cfg given as a path or as the text itself."""
    if isinstance(path_or_text, Path) or "\n" not in path_or_text and "[" not in path_or_text:
        path = Path(path_or_text)
        if not path.is_file():
            raise CfgError(f"{path}: {_not_a_file(path)}")
        return path.name, read_sections(_text(path), path.name)
    return "<cfg>", read_sections(path_or_text)


def _not_a_file(path: Path) -> str:
    """Why a path cannot be read as a cfg: missing, a directory, a FIFO, a device ..."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "no such cfg file"
    except OSError as exc:
        return f"cannot read it ({exc.strerror})"
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    kind = next((name for test, name in kinds if test(mode)), "not a regular file")
    return f"is {kind}, not a cfg file; give the path of a darknet .cfg text file"


def _text(path: Path) -> str:
    """A cfg file's text; a binary or non-UTF-8 file is a CfgError naming the first bad byte."""
    data = path.read_bytes()
    if b"\0" in data:
        raise CfgError(f"{path}: not a text file (it holds NUL bytes); a darknet .cfg is plain text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise CfgError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                       "a darknet .cfg is plain text") from None


class Options:
    """Typed access to one section's options; remembers which keys were read."""

    def __init__(self, section: Section, file: str) -> None:
        self.section, self.file, self.used = section, file, set[str]()

    def error(self, problem: str, key: str | None = None) -> CfgError:
        """A CfgError at the option's line (or the section header), naming the section."""
        line = self.section.options[key][1] if key in self.section.options else self.section.line
        where = f"[{self.section.kind}] {key}={self.section.options[key][0]}: " if key in self.section.options else f"[{self.section.kind}]: "
        return CfgError(f"{self.file}:{line}: {where}{problem}")

    def raw(self, key: str) -> str | None:
        """The option's text, or None when absent."""
        self.used.add(key)
        entry = self.section.options.get(key)
        return None if entry is None else entry[0]

    def int(self, key: str, default: int | None = None) -> int:
        """An integer option (strict: darknet's atoi would silently read garbage as 0)."""
        value = self.raw(key)
        if value is None:
            if default is None:
                raise self.error(f"missing required option {key}=")
            return default
        if not re.fullmatch(r"[+-]?\d+", value):
            raise self.error("not an integer", key)
        return int(value)

    def float(self, key: str, default: float) -> float:
        """A float option."""
        value = self.raw(key)
        try:
            return default if value is None else float(value)
        except ValueError:
            raise self.error("not a number", key) from None

    def str(self, key: str, default: str) -> str:
        """A string option."""
        value = self.raw(key)
        return default if value is None else value

    def ints(self, key: str) -> list[int]:
        """A required comma-separated list of integers."""
        value = self.raw(key)
        if not value:
            raise self.error(f"missing required option {key}=")
        items = value.strip(",").split(",")
        if not all(re.fullmatch(r"[+-]?\d+", item) for item in items):
            raise self.error("not a list of integers", key)
        return [int(item) for item in items]

    def neutral(self, **defaults: int) -> None:
        """Options this reader accepts only at their default (they change what darknet computes)."""
        for key, default in defaults.items():
            if self.raw(key) is not None and self.int(key) != default:
                raise self.error("is not supported by this reader", key)

    def finish(self, ignored: frozenset[str]) -> None:
        """Check the options nothing read: darknet's own training-only keys pass silently, keys its
        released cfgs carry but its parser never reads pass with darknet's "Unused field" warning,
        and anything else is an error (most likely a typo, which darknet would only warn about)."""
        for key, (value, line) in sorted(self.section.options.items(), key=lambda kv: kv[1][1]):
            if key in self.used or key in ignored or key in _COMMON_IGNORED:
                continue
            if key in UNREAD_KEYS.get(self.section.kind, frozenset()) | UNREAD_KEYS["*"]:
                warnings.warn(CfgWarning(f"{self.file}:{line}: [{self.section.kind}] {key}={value}: darknet never "
                                         "reads this key (it prints 'Unused field'); ignored"), stacklevel=3)
                continue
            raise self.error(f"unknown option {key!r} (darknet reads no such key in "
                             f"[{self.section.kind}]; check its spelling)", key)


# Options darknet reads for every layer that only matter for training (parser.c, end of the loop).
_COMMON_IGNORED = frozenset({
    "clip", "onlyforward", "dont_update", "burnin_update", "stopbackward", "train_only_bn",
    "dontload", "dontloadscales", "learning_rate", "stream", "wait_stream",
})
# [net] keys darknet (AlexeyAB and pjreddie parse_net_options) reads for training and augmentation.
NET_IGNORED = frozenset("""
    batch subdivisions max_batches learning_rate learning_rate_min sgdr_cycle sgdr_mult momentum
    decay time_steps track augment_speed sequential_subdivisions try_fix_nan weights_reject_freq
    equidistant_point badlabels_rejection_percentage num_sigmas_reject_badlabels ema_alpha
    use_cuda_graph loss_scale dynamic_minibatch optimized_memory workspace_size_limit_MB adam B1
    B2 eps inputs max_crop min_crop max_ratio min_ratio center flip blur gaussian_noise mixup cutmix
    mosaic letter_box mosaic_bound contrastive contrastive_jit_flip contrastive_color unsupervised
    label_smooth_eps resize_step attention adversarial_lr max_chart_loss angle aspect saturation
    exposure hue power policy burn_in step scale steps scales seq_scales gamma random notruth clip
    show_receptive_field cudnn_half
""".split())
YOLO_IGNORED = frozenset("""
    anchors jitter ignore_thresh truth_thresh random scale_x_y iou_thresh cls_normalizer
    iou_normalizer obj_normalizer delta_normalizer iou_loss iou_thresh_kind nms_kind beta_nms
    max_delta resize max label_smooth_eps counters_per_class objectness_smooth new_coords focal_loss
    show_details track_history_size sim_thresh dets_for_track dets_for_show track_ciou_norm
    embedding_layer map uc_normalizer
""".split())
# [region] (parse_region) and [detection] (parse_detection): loss and box-decoding settings.
REGION_IGNORED = frozenset("""
    max log sqrt softmax focal_loss jitter resize rescore thresh classfix absolute random coord_scale
    object_scale noobject_scale mask_scale class_scale bias_match tree map anchors
""".split())
DETECTION_IGNORED = frozenset("""
    rescore softmax sqrt max coord_scale forced object_scale noobject_scale class_scale jitter resize random
    reorg
""".split())

# Keys darknet's own released cfgs (AlexeyAB/darknet cfg/, WongKinYiu/CrossStagePartialNetworks)
# carry although no parse_* function in parser.c reads them: darknet loads the cfg and its
# option_unused() prints "Unused field: 'key = value'". Listed here so such a cfg loads with the same
# warning; any other unread key is refused as a likely typo. "*" applies to every section.
UNREAD_KEYS: dict[str, frozenset[str]] = {
    "*": frozenset(),
    "net": frozenset({"max_epochs", "seen"}),
    "yolo": frozenset({"beta1"}),
}
