"""Exporters: augsearch policies as other libraries' transforms, one module per library.

:mod:`augsearch.export.albumentations`, :mod:`augsearch.export.torchvision` and
:mod:`augsearch.export.imgaug`; :mod:`augsearch.export.pins` holds what they share. Nothing is
imported here, so that importing one exporter does not import the other libraries.
"""
