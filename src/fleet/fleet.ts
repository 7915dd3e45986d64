/**
 * What one host of a fleet knows of the others (etcd store, src/store/etcd-store.ts).
 *
 * Every ENI carries `hostId`, the host that owns it (stamped when it is
 * created or attached). A host opens ports only for its own ENIs: localView()
 * strips the TAP wiring of the others, so the dataplane compiles them like
 * unbound ENIs -- their addresses still count as members of their groups, so a
 * rule referencing a group opens for members on other hosts.
 *
 * FleetView.remoteEnis() is the contract for the overlay (issue 14, second
 * part): for every ENI owned by another host, its addresses, VPC, owner and
 * the owner's underlay address; 'change' fires after every state or host
 * change.
 */
import { EventEmitter } from 'node:events';
import type { Eni, ModelSnapshot } from '../model/types';
import type { EtcdStore, HostInfo } from '../store/etcd-store';

export interface RemoteEni {
  eniId: string;
  vpcId: string;
  subnetId: string;
  mac: string;
  addresses: string[];
  hostId: string;
  /** The owning host's underlay address (undefined: host not registered = unreachable). */
  underlayAddress?: string;
  reachable: boolean;
}

/** ENIs owned by another host: no TAP or QEMU socket here, compiled as members only. */
export function localView(snapshot: ModelSnapshot, hostId: string): ModelSnapshot {
  if (!snapshot.enis.some((e) => isRemote(e, hostId))) return snapshot;
  return {
    ...snapshot,
    enis: snapshot.enis.map((e) => {
      if (!isRemote(e, hostId)) return e;
      const { tap: _t, qemuSocket: _q, netns: _n, netnsPath: _p, ifName: _i, ...rest } = e;
      return rest;
    }),
  };
}

export function isRemote(eni: Eni, hostId: string): boolean {
  return eni.hostId !== undefined && eni.hostId !== hostId;
}

export class FleetView extends EventEmitter {
  private snapshot: ModelSnapshot | undefined;

  constructor(
    readonly hostId: string,
    private readonly store: EtcdStore,
  ) {
    super();
    store.on('hosts', () => this.emit('change'));
  }

  update(snapshot: ModelSnapshot): void {
    this.snapshot = snapshot;
    this.emit('change');
  }

  hosts(): HostInfo[] {
    return this.store.hosts();
  }

  remoteEnis(): RemoteEni[] {
    const hosts = new Map(this.store.hosts().map((h) => [h.hostId, h]));
    return (this.snapshot?.enis ?? [])
      .filter((e) => isRemote(e, this.hostId))
      .map((e) => {
        const owner = hosts.get(e.hostId ?? '');
        return {
          eniId: e.id,
          vpcId: e.vpcId,
          subnetId: e.subnetId,
          mac: e.mac,
          addresses: [e.privateIp, ...e.secondaryIps, ...e.ipv6Addresses],
          hostId: e.hostId ?? '',
          underlayAddress: owner?.underlayAddress,
          reachable: owner !== undefined,
        };
      });
  }
}
