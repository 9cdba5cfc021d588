"""Teachers: any detector that labels unlabelled footage, behind one protocol.

- :mod:`~core.teachers.protocol`: the :class:`Teacher` protocol (``class_names`` without background,
  ``detect(images) -> list[Detections]``, ``description``, ``fingerprint()``) and the checks of its output.
- :mod:`~core.teachers.registry`: the kinds, by prefix (``torchvision:``, ``owlv2:``, ``grounding-dino:``,
  ``py:``), and :func:`build_teacher`; files (this project's SSDs) stay with :func:`core.resolve.load_detector`.
- one short module per kind: :mod:`~core.teachers.zoo`, :mod:`~core.teachers.owlv2`,
  :mod:`~core.teachers.grounding_dino` (both through :mod:`~core.teachers.hf`), :mod:`~core.teachers.plugin`.
- around any of them: :mod:`~core.teachers.tiling` (SAHI-style tiles merged by NMS) and
  :mod:`~core.teachers.ontology` (one class from several prompts, per-class thresholds).
- :mod:`~core.teachers.adapter`: a Teacher as the detector API every command and view uses, and an SSD
  detector as a Teacher.

Nothing is imported here: the plug-in's child process imports :mod:`core.teachers.plugin_worker` alone
(NumPy only), and the kinds' heavy dependencies (torchvision's zoo, transformers) load when one is built.
"""
