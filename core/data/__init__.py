"""Datasets (VOC, COCO, synthetic shapes), SSD augmentation and the data loader.

Readers return a :class:`core.types.DatasetIndex` (no pixels); :mod:`core.data.loader`
adds pixels and transforms. Submodules are imported on demand so that reading a VOC folder
does not pull in torch.
"""
