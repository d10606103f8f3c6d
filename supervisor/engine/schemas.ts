// The parts of the Docker Engine's answers the supervisor reads, as schemas: an engine answer is an edge, so
// it is validated before anything trusts its shape. Fields the supervisor ignores are allowed and not checked.
import { Type, type Static } from '@sinclair/typebox';

const Labels = Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()]);
const Strings = Type.Union([Type.Array(Type.String()), Type.Null()]);

export const ContainerSummaries = Type.Array(Type.Object({ Id: Type.String() }));

export const ContainerInspect = Type.Object({
  Id: Type.String(),
  Name: Type.String(),
  Created: Type.String(),
  RestartCount: Type.Optional(Type.Integer({ minimum: 0 })),
  State: Type.Object({
    Status: Type.String(),
    ExitCode: Type.Integer(),
    Health: Type.Optional(Type.Object({ Status: Type.String() })),
  }),
  Config: Type.Object({
    Image: Type.String(),
    Labels: Type.Optional(Labels),
    StopTimeout: Type.Optional(Type.Integer()),
    Tty: Type.Optional(Type.Boolean()),
  }),
  NetworkSettings: Type.Object({
    Networks: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
  }),
});
export type ContainerInspect = Static<typeof ContainerInspect>;

export const ContainerCreated = Type.Object({ Id: Type.String() });

export const NetworkSummaries = Type.Array(Type.Object({ Id: Type.String() }));

export const NetworkInspect = Type.Object({
  Id: Type.String(),
  Name: Type.String(),
  Labels: Type.Optional(Labels),
  Containers: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
});

export const VolumeList = Type.Object({
  Volumes: Type.Union([Type.Array(Type.Object({ Name: Type.String() })), Type.Null()]),
});

export const ImageInspect = Type.Object({
  Id: Type.String(),
  RepoTags: Type.Optional(Strings),
  RepoDigests: Type.Optional(Strings),
  Size: Type.Number(),
  Created: Type.String(),
  RootFS: Type.Object({ Layers: Type.Optional(Strings) }),
});

export const ImageSummaries = Type.Array(
  Type.Object({
    Id: Type.String(),
    RepoTags: Type.Optional(Strings),
    RepoDigests: Type.Optional(Strings),
    Size: Type.Number(),
    Created: Type.Number(),
    Labels: Type.Optional(Labels),
  }),
);

/** One image delete result: a reference dropped, or the image's layers deleted. */
export const ImageDeleteResults = Type.Array(
  Type.Object({
    Untagged: Type.Optional(Type.String()),
    Deleted: Type.Optional(Type.String()),
  }),
);

const Sized = Type.Object({ Size: Type.Optional(Type.Number()) });
export const SystemDiskUsage = Type.Object({
  LayersSize: Type.Optional(Type.Number()),
  Containers: Type.Optional(
    Type.Union([Type.Array(Type.Object({ SizeRw: Type.Optional(Type.Number()) })), Type.Null()]),
  ),
  Volumes: Type.Optional(
    Type.Union([Type.Array(Type.Object({ UsageData: Type.Optional(Type.Union([Sized, Type.Null()])) })), Type.Null()]),
  ),
  BuildCache: Type.Optional(Type.Union([Type.Array(Sized), Type.Null()])),
});

export const SystemInfo = Type.Object({
  DockerRootDir: Type.String(),
  /** uname -m of the engine's machine (x86_64, aarch64, armv7l); absent from engines too old to say. */
  Architecture: Type.Optional(Type.String({ maxLength: 32 })),
});

/** What diagnostics read of the engine's /info: the figures that explain a device's trouble. */
export const DiagnosticInfo = Type.Object({
  ServerVersion: Type.Optional(Type.String({ maxLength: 128 })),
  OperatingSystem: Type.Optional(Type.String({ maxLength: 256 })),
  KernelVersion: Type.Optional(Type.String({ maxLength: 256 })),
  Architecture: Type.Optional(Type.String({ maxLength: 32 })),
  NCPU: Type.Optional(Type.Integer()),
  MemTotal: Type.Optional(Type.Integer()),
  Driver: Type.Optional(Type.String({ maxLength: 64 })),
  DockerRootDir: Type.Optional(Type.String({ maxLength: 1024 })),
  Containers: Type.Optional(Type.Integer()),
  ContainersRunning: Type.Optional(Type.Integer()),
  ContainersStopped: Type.Optional(Type.Integer()),
  Images: Type.Optional(Type.Integer()),
  SystemTime: Type.Optional(Type.String({ maxLength: 64 })),
  Warnings: Type.Optional(Type.Union([Type.Array(Type.String({ maxLength: 1000 }), { maxItems: 50 }), Type.Null()])),
});

export const ImageUsers = Type.Array(Type.Object({ Id: Type.String(), ImageID: Type.String() }));
