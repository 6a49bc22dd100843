"""Conventions: every point where RigL implementations disagree, as named data.

The paper's Algorithm 1 leaves details open (how k is rounded, how ties are broken, whether a
connection dropped in this update may be grown again, what happens to optimizer state...). Each
framework settled them differently. A :class:`Conventions` record names each such choice in one field;
:data:`PRESETS` holds one record per implementation, so a differential test says exactly which
implementation it reproduces::

    from rigl_ref import drop_grow
    result = drop_grow(mask, w, drop_scores, grow_scores, 0.3, convention="tf1")

Sources (read and run, see ``docs/conventions.md``):

* ``paper``: Evci et al., "Rigging the Lottery", ICML 2020, Algorithm 1 as written.
* ``tf1``: google-research/rigl @ d39fc7d, ``rigl/sparse_optimizers_base.py``
  (``SparseSETOptimizerBase._get_update_op``, ``reset_momentum``, ``apply_gradients``), with the
  1e-5 drop noise switched off (it is seeded by a salted Python ``hash`` and cannot be reproduced).
* ``tf2``: the same repository, ``rigl/rigl_tf2/mask_updaters.py`` (``MaskUpdater``) and ``train.py``.
* ``rigl_torch``: PyPI ``rigl-torch`` 0.5.2, ``rigl_torch/RigL.py`` (``RigLScheduler._rigl_step``).
* ``jaxpruner``: google-research/jaxpruner @ f133ee5, ``jaxpruner/algorithms/sparse_trainers.py``
  (``SET._update_masks``, ``restart_inner_state``) and ``jaxpruner/mask_calculator.py``
  (``_topk_mask_calculator_internal``).

To vary one point, derive a record: ``dataclasses.replace(PRESETS["tf1"], name="tf1-exact",
drop_ranking="active_only")``. Every field is validated against its documented choices.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from rigl_ref.validate import check_choice


def _choice(default, doc: str, choices: dict[str, str]):
    """A field whose value must be one of ``choices`` (value -> meaning and source)."""
    return field(default=default, metadata={"doc": doc, "choices": choices})


@dataclass(frozen=True)
class Conventions:
    """One implementation's answer to every point Algorithm 1 leaves open.

    The defaults are the ``paper`` preset.

    The fields and their admissible values are documented in ``dataclasses.fields(Conventions)``
    metadata (``doc`` and ``choices``, each choice naming its source) and rendered in
    ``docs/conventions.md``. The fields group into: how many connections move (``drop_count_rule``,
    ``grow_count_rule``), which ones (``drop_score``, ``drop_ranking``,
    ``grow_candidates``), what happens to their values and optimizer state (``grown_weight``,
    ``reinit_when_same``, ``reset_scope``, ``reset_slots_of_new``, ``weights_outside_mask``,
    ``slots_outside_mask``, ``masked_slots``), and when updates run (``zero_fraction_update``,
    ``update_predicate``, ``step_origin``, ``update_replaces_weight_step``, ``cosine_schedule``).
    """

    name: str = field(default="custom", metadata={"doc": "Label of the record (a preset name or yours)."})

    drop_count_rule: str = _choice(
        "floor_exact",
        "How k = |I_drop| follows from the active count n and the drop fraction f.",
        {
            "floor_exact": "paper: k = floor(n * f) of the exact product of n and the float f "
            "(Algorithm 1 writes k = f_decay(t) (1 - s) N without saying how to round).",
            "float32_truncate": "tf1/tf2: k = int32(float32(n) * float32(f)) "
            "(_get_update_op: cast(cast(n_ones, float32) * drop_fraction, int32)).",
            "float64_truncate": "rigl_torch: k = int(n * f) in float64 (_rigl_step: int(n_ones * drop_fraction)).",
            "jaxpruner_round_kept": "jaxpruner: kept = max(1, round_half_even(float32(N) * (1 - s_mid))) with "
            "s_mid = 1 - d * (1 - f), d = float32(n) / float32(N), all float32, and kept = N when s_mid == 0 "
            "(SET._update_masks + topk_mask_calculator); k = n - kept, which is -1 for an empty mask.",
        },
    )
    grow_count_rule: str = _choice(
        "equal_to_dropped",
        "How many connections the grow step adds.",
        {
            "equal_to_dropped": "paper/tf1/tf2/rigl_torch: exactly k, so the active count is preserved.",
            "refill_to_density": "jaxpruner: refill to max(1, round_half_even(float32(N) * d)) active "
            "(topk_fn(new_grow_scores, sparsity) with sparsity = 1 - d), in float32 as above.",
        },
    )
    drop_score: str = _choice(
        "abs_masked_weight",
        "The drop score the updaters compute (drop_grow itself takes scores as given).",
        {
            "abs_masked_weight": "paper/tf1/tf2: |mask * w| (generic_mask_update: abs(mask * weights)).",
            "abs_weight": "rigl_torch/jaxpruner: |w|, raw inactive weights included "
            "(_rigl_step: torch.abs(w); SET._get_drop_scores: jnp.abs(params)).",
        },
    )
    drop_ranking: str = _choice(
        "active_only",
        "Which positions compete for the n - k kept places.",
        {
            "active_only": "paper: only active connections; I_drop is the bottom k of the active ones.",
            "all_positions": "tf1/tf2/rigl_torch: every position with its drop score (top_k over the whole "
            "flattened tensor), so an inactive position can outrank an active zero weight and join the "
            "kept set without being reset.",
            "inactive_lifted_below_min": "jaxpruner: inactive scores replaced by float32 min(score) - 1e-5 over "
            "all positions (SET._update_masks lowest_score), then top-k over all positions; the lift is "
            "literal float32 arithmetic and can tie when min(score) is large.",
        },
    )
    grow_candidates: str = _choice(
        "not_kept",
        "Which positions the grow step may pick, and how the kept ones are kept out.",
        {
            "not_kept": "paper: every position not kept, i.e. i not in theta \\ I_drop, just-dropped ones "
            "included; exact set exclusion.",
            "not_kept_lifted_below_min": "tf1/tf2/rigl_torch: kept positions get the grow score "
            "min(score) - 1 in the scores' float dtype, then the top n_grow over all positions. If the lift "
            "fails to separate (min(score) >= 2**24 in float32) and picks a kept position, TF's "
            "disjointness Assert fires; rigl_ref raises ValueError then (rigl-torch would silently merge).",
            "kept_lifted_above_max": "jaxpruner: kept positions get float32 max(score) + 1e-5 and the new mask "
            "is the top (kept + n_grow) over all positions; when the lift is absorbed (max(score) >= 256) "
            "ties decide, literally as jaxpruner does.",
            "inactive_only": "variant: only positions inactive before the update; just-dropped connections "
            "cannot come back in the same update (no preset uses it).",
        },
    )
    grown_weight: str = _choice(
        "grow_init",
        "Value written to grown connections.",
        {
            "grow_init": "paper/tf1/tf2/rigl_torch: the grow_init argument (zeros in every driver; TF1 "
            "get_grow_tensor also allows grad_scale/grad_sign arrays).",
            "unchanged": "jaxpruner: update_state never writes params; a grown weight keeps its value, "
            "which is 0 because post_gradient_update masks params after every step.",
        },
    )
    reinit_when_same: bool = field(
        default=False,
        metadata={
            "doc": "Whether a connection dropped and grown again in the same update is re-initialised "
            "(tf1 _get_update_op argument; only SparseStaticOptimizer passes True). False in every preset; "
            "drop_grow(reinit_when_same=...) overrides it per call.",
        },
    )
    reset_scope: str = _choice(
        "grown_not_previously_active",
        "Which positions count as new connections (weights set to grow_init, slots reset).",
        {
            "grown_not_previously_active": "paper/tf1/tf2/rigl_torch: picked by the grow step and inactive "
            "before (new_connections = (mask2 == 1) & (old_mask == 0)).",
            "newly_active": "jaxpruner: active now and inactive before, however they got there "
            "(masks_activated = (old_mask == 0) & (new_mask == 1)).",
        },
    )
    reset_slots_of_new: bool = field(
        default=True,
        metadata={
            "doc": "Whether optimizer slots of new connections are set to slot_init (0 by default). "
            "True: paper, tf1 (reset_momentum; RigL writes masked_grad * initial_acc_scale), tf2, "
            "jaxpruner (restart_inner_state). False: rigl_torch (only momentum_buffer *= mask, so a grown "
            "connection keeps its buffer).",
        },
    )
    weights_outside_mask: str = _choice(
        "zeroed",
        "What happens to the stored weights of inactive positions.",
        {
            "zeroed": "paper/tf2/rigl_torch/jaxpruner: set to 0 (rigl_torch w *= mask; jaxpruner "
            "post_gradient_update; tfmot assigns w * mask before each forward pass).",
            "kept": "tf1: the raw kernel keeps its value (contrib masked layers multiply in the forward pass).",
        },
    )
    slots_outside_mask: str = _choice(
        "zeroed",
        "What happens to optimizer slots of inactive positions.",
        {
            "kept": "tf1/tf2/jaxpruner: untouched (only new connections are reset).",
            "zeroed": "paper/rigl_torch: set to 0 (rigl_torch reset_momentum: momentum_buffer *= mask; in the "
            "paper's truly sparse view a dropped connection and its state cease to exist).",
        },
    )
    masked_slots: str = _choice(
        "every_slot",
        "Which optimizer slots the slot rules (reset_slots_of_new, slots_outside_mask) act on.",
        {
            "every_slot": "paper/tf1/tf2/jaxpruner: every slot of the optimizer (tf1 reset_momentum loops over "
            "get_slot_names(); jaxpruner restart_inner_state maps over the whole inner state).",
            "sgd_momentum_only": "rigl_torch: only SGD's momentum (RigLScheduler.reset_momentum: "
            "`if 'momentum_buffer' in param_state: buf *= mask`); Adam's exp_avg / exp_avg_sq keep their "
            "values at dropped and regrown positions. Slots are named by drop_grow's slot_names "
            "(\"momentum\" or \"momentum_buffer\" is SGD's); unnamed slots count as SGD momentum.",
        },
    )
    zero_fraction_update: str = _choice(
        "runs",
        "What an update with drop fraction 0 does.",
        {
            "runs": "paper/tf1/rigl_torch/jaxpruner: the update runs with k = 0, so the kept set is re-ranked "
            "(under drop_ranking=\"all_positions\" an inactive position can still take an active zero "
            "weight's place).",
            "skipped": "tf2: nothing happens (rigl_tf2 UpdateSchedule.update: "
            "tf.cond(self.last_drop_fraction > 0., true_fn, lambda: None)).",
        },
    )
    update_predicate: str = _choice(
        "paper",
        "The update-step predicate: a key of schedules.UPDATE_SCHEDULES.",
        {
            "paper": "t mod dT == 0 and t < T_end (Algorithm 1).",
            "tf1": "begin <= t <= end (end < 0: never stop) and last_update + dT <= t "
            "(SparseSETOptimizerBase.is_mask_update_iter).",
            "tf2": "step % freq == 0 with last_update_step rules (UpdateSchedule.is_update_iter).",
            "rigl_torch": "step % delta == 0 and step < T_end (RigLScheduler.__call__).",
            "jaxpruner": "count % freq == 0 and start <= count <= end (PeriodicSchedule).",
        },
    )
    step_origin: str = _choice(
        "iterations_before",
        "Which step counter the predicate and the drop-fraction schedule read.",
        {
            "iterations_before": "paper/jaxpruner: iterations completed before this one (0 on the first; "
            "jaxpruner increments count after the update).",
            "iterations_after": "rigl_torch: iterations including this one (step += 1 before the check), "
            "update iterations included.",
            "global_step": "tf1/tf2: weight steps completed (global_step); read after the step when the "
            "update follows it, before it when the update replaces it (RigL), whose iteration then does "
            "not advance the step.",
        },
    )
    update_replaces_weight_step: frozenset = field(
        default=frozenset({"rigl"}),
        metadata={
            "doc": "Methods whose mask-update iteration does no weight step (the update replaces it); the "
            "others do the weight step and then update. paper: {rigl} (Algorithm 1's if/else; the FLOPs "
            "formula's dT + 1); tf1: {rigl} (SparseRigLOptimizerBase.apply_gradients cond), SET/SNFS/Static "
            "follow; tf2: none (train.py updates after apply_gradients); rigl_torch: {rigl} (the caller "
            "skips optimizer.step); jaxpruner: {rigl, set} (skip_gradients emits zero updates).",
        },
    )
    cosine_schedule: str = _choice(
        "cosine_float64",
        "Arithmetic of the cosine drop-fraction decay: a key of schedules.DROP_FRACTION_SCHEDULES.",
        {
            "cosine_float64": "paper/rigl_torch: alpha / 2 * (1 + cos(pi * t / T_end)) in float64 "
            "(rigl-torch cosine_annealing, numpy float64, on its post-increment step).",
            "cosine_tf1_constant_folded": "tf1: cosine_decay in float32 as the default session evaluates it "
            "(Grappler folds pi * (step / d) into step * (pi * (1 / d))).",
            "cosine_float32": "tf2: the literal float32 formula (Keras CosineDecay); its own operation order "
            "may differ by an ulp: feed its drop fraction for bit-exact work.",
            "cosine_float32_optax": "jaxpruner: the cosine its api.create_updater_from_config installs for "
            "rigl/set, optax.cosine_decay_schedule(drop_fraction, update_end_step), called with the raw 0-based "
            "count (SET.update_state: drop_fraction_fn(sparse_state.count)): float32, angle "
            "(pi * min(c, T_end)) / T_end (optax schedules/_schedule.py). A directly built SET/RigL "
            "defaults to the constant 0.3 instead.",
        },
    )

    ema_decay_complement: str = _choice(
        "float64_difference",
        "How SNFS's EMA factor c = 1 - decay is rounded (ema <- ema - (ema - g) * c).",
        {
            "float64_difference": "paper/rigl_torch/jaxpruner: c = float32(1.0 - decay) from the float64 "
            "difference (0.1 for decay 0.9, the nearest float32 to the paper's 1 - 0.9); none of these "
            "frameworks ships SNFS.",
            "float32_subtraction": "tf1/tf2: c = 1 - float32(decay) computed in float32 (0.100000024 for 0.9), "
            "as TF evaluates 1 - decay once decay is a float32 tensor (google-research/rigl "
            "rigl/sparse_optimizers.py SparseMomentumOptimizer: ExponentialMovingAverage(decay=momentum), "
            "assign_moving_average).",
        },
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices is not None:
                check_choice(f"Conventions.{f.name}", getattr(self, f.name), choices)
        for flag in ("reinit_when_same", "reset_slots_of_new"):
            if not isinstance(getattr(self, flag), bool):
                raise TypeError(f"Conventions.{flag} must be a bool, got {getattr(self, flag)!r}")
        if not isinstance(self.update_replaces_weight_step, frozenset):
            raise TypeError(
                "Conventions.update_replaces_weight_step must be a frozenset of method names, "
                f"got {self.update_replaces_weight_step!r}"
            )

    def replaces_weight_step(self, method: str) -> bool:
        """Whether an update iteration of ``method`` ("rigl", "set", ...) skips the weight step."""
        return method in self.update_replaces_weight_step


_TF1 = Conventions(
    name="tf1",
    drop_count_rule="float32_truncate",
    drop_ranking="all_positions",
    grow_candidates="not_kept_lifted_below_min",
    weights_outside_mask="kept",
    slots_outside_mask="kept",
    update_predicate="tf1",
    step_origin="global_step",
    cosine_schedule="cosine_tf1_constant_folded",
    ema_decay_complement="float32_subtraction",
)

#: The named conventions of each implementation (``paper``, ``tf1``, ``tf2``, ``rigl_torch``, ``jaxpruner``).
PRESETS: dict[str, Conventions] = {
    "paper": Conventions(name="paper"),
    "tf1": _TF1,
    # rigl_tf2's MaskUpdater.generic_mask_update is TF1's update core (same n_prune cast, top-k over all
    # positions, min - 1 lift); only the Keras loop around it differs.
    "tf2": replace(
        _TF1,
        name="tf2",
        weights_outside_mask="zeroed",
        update_predicate="tf2",
        zero_fraction_update="skipped",
        update_replaces_weight_step=frozenset(),
        cosine_schedule="cosine_float32",
    ),
    "rigl_torch": Conventions(
        name="rigl_torch",
        drop_count_rule="float64_truncate",
        drop_score="abs_weight",
        drop_ranking="all_positions",
        grow_candidates="not_kept_lifted_below_min",
        reset_slots_of_new=False,
        slots_outside_mask="zeroed",
        masked_slots="sgd_momentum_only",
        update_predicate="rigl_torch",
        step_origin="iterations_after",
    ),
    "jaxpruner": Conventions(
        name="jaxpruner",
        drop_count_rule="jaxpruner_round_kept",
        grow_count_rule="refill_to_density",
        drop_score="abs_weight",
        drop_ranking="inactive_lifted_below_min",
        grow_candidates="kept_lifted_above_max",
        grown_weight="unchanged",
        reset_scope="newly_active",
        slots_outside_mask="kept",
        update_predicate="jaxpruner",
        update_replaces_weight_step=frozenset({"rigl", "set"}),
        cosine_schedule="cosine_float32_optax",
    ),
}


# The preset every entry point uses when none is named (drop_grow, the updaters, distributions, RunConfig,
# the CLI). "paper": rigl_ref is first a reference of Algorithm 1 as published; the framework presets are
# departures from it that a user names on purpose.
DEFAULT_CONVENTION = "paper"


def rule_table(field_name: str, rules: dict) -> dict:
    """A dispatch table for one convention field: ``rules`` maps every admissible value of
    ``Conventions.<field_name>`` (the keys of its ``choices``, or ``False``/``True`` for a flag) to the
    small named function or value implementing it. Checked when the module defining it is imported,
    so a choice without a rule (or a rule without a choice) is an import error, never a silent fallback."""
    spec = next((f for f in fields(Conventions) if f.name == field_name), None)
    if spec is None:
        raise ValueError(f"rule_table: Conventions has no field {field_name!r}")
    expected = set(spec.metadata["choices"]) if "choices" in spec.metadata else {False, True}
    if set(rules) != expected:
        raise ValueError(
            f"rule_table for Conventions.{field_name} must cover exactly {sorted(map(str, expected))}, "
            f"got {sorted(map(str, rules))}"
        )
    return dict(rules)


def ema_decay_complement(convention, decay: float, dtype) -> np.generic:
    """c = 1 - decay in ``dtype`` per ``Conventions.ema_decay_complement`` (SNFS's EMA factor)."""
    return _EMA_DECAY_COMPLEMENTS[get_convention(convention).ema_decay_complement](float(decay), np.dtype(dtype).type)


def _complement_in_float64(decay: float, dtype):
    return dtype(1.0 - decay)


def _complement_in_dtype(decay: float, dtype):
    return dtype(1) - dtype(decay)


_EMA_DECAY_COMPLEMENTS = rule_table("ema_decay_complement", {
    "float64_difference": _complement_in_float64,
    "float32_subtraction": _complement_in_dtype,
})


def get_convention(name_or_record) -> Conventions:
    """Return the preset named ``name_or_record``, or the record itself if it is a :class:`Conventions`."""
    if isinstance(name_or_record, Conventions):
        return name_or_record
    if isinstance(name_or_record, str):
        if name_or_record not in PRESETS:
            raise ValueError(
                f"unknown convention {name_or_record!r}; expected one of {', '.join(map(repr, PRESETS))}"
            )
        return PRESETS[name_or_record]
    raise TypeError(
        f"convention must be a preset name or a Conventions record, got {type(name_or_record).__name__}"
    )
