"""nasforge-ray: an executor that runs nasforge trials in Ray actors, locally or on a cluster."""

from nasforge_ray.executor import RayExecutor

__all__ = ["RayExecutor"]
