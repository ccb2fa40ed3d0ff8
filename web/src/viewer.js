// A three.js skeleton player: bones as capsules between joints, played in a loop at the motion's fps.
// Every drawn frame is counted on the canvas (data-frames-drawn, data-motion-frame) so tests can see it.
import {
  CanvasTexture,
  Color,
  CylinderGeometry,
  DirectionalLight,
  Fog,
  Group,
  HemisphereLight,
  Mesh,
  MeshStandardMaterial,
  PerspectiveCamera,
  PlaneGeometry,
  Quaternion,
  RepeatWrapping,
  Scene,
  SphereGeometry,
  SRGBColorSpace,
  Timer,
  Vector3,
  WebGLRenderer,
} from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";

const SIDE_COLOURS = { left: 0x2f6fd0, right: 0xd7372f, centre: 0x50505a };
const BONE_RADIUS = 0.025;
const JOINT_RADIUS = 0.035;
const UP = new Vector3(0, 1, 0);
const BACKGROUND = 0xf6f5f0;
const FLOOR_SIZE = 30; // metres
const FLOOR_CELL = 0.5; // metres per grid square
// How fast the camera's target follows the root (per second): smooth, yet never loses the figure.
const FOLLOW_RATE = 3.0;

export class SkeletonViewer {
  constructor(canvas) {
    this.canvas = canvas;
    this.renderer = new WebGLRenderer({ canvas, antialias: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
    this.scene = new Scene();
    this.scene.background = new Color(BACKGROUND);
    this.scene.fog = new Fog(BACKGROUND, 8, 16);
    this.camera = new PerspectiveCamera(40, 1, 0.05, 100);
    this.camera.position.set(2.2, 1.6, 3.6);
    this.controls = new OrbitControls(this.camera, canvas);
    this.controls.target.set(0, 0.9, 0);
    this.timer = new Timer();
    this.framesDrawn = 0;
    this.playing = true;
    this.time = 0;
    this.motion = null;
    this.onFrame = () => {};
    this.addStage();
    new ResizeObserver(() => this.resize()).observe(canvas.parentElement);
    this.resize();
    this.renderer.setAnimationLoop(() => this.tick());
  }

  addStage() {
    this.scene.add(new HemisphereLight(0xffffff, 0x8a8578, 2.0));
    const sun = new DirectionalLight(0xffffff, 1.5);
    sun.position.set(3, 6, 4);
    this.scene.add(sun);
    this.scene.add(this.floor());
  }

  // A textured plane rather than GridHelper: its lines came out incomplete under software WebGL (SwiftShader).
  floor() {
    const tile = document.createElement("canvas");
    tile.width = tile.height = 128;
    const context = tile.getContext("2d");
    context.fillStyle = "#ecebe5";
    context.fillRect(0, 0, 128, 128);
    context.strokeStyle = "#c9c5ba";
    context.lineWidth = 3;
    context.strokeRect(0, 0, 128, 128);
    const texture = new CanvasTexture(tile);
    texture.wrapS = texture.wrapT = RepeatWrapping;
    texture.repeat.set(FLOOR_SIZE / FLOOR_CELL, FLOOR_SIZE / FLOOR_CELL);
    texture.anisotropy = this.renderer.capabilities.getMaxAnisotropy();
    texture.colorSpace = SRGBColorSpace;
    const floor = new Mesh(new PlaneGeometry(FLOOR_SIZE, FLOOR_SIZE), new MeshStandardMaterial({ map: texture, roughness: 1 }));
    floor.rotation.x = -Math.PI / 2;
    return floor;
  }

  // motion: {joints: frames x joints x 3 (metres, +Y up), parents, sides, fps}
  show(motion) {
    if (this.figure) this.scene.remove(this.figure.group);
    this.motion = motion;
    this.figure = buildFigure(motion);
    this.scene.add(this.figure.group);
    this.time = 0;
    this.playing = true;
    this.figure.pose(0);
    const root = this.figure.position(0, 0);
    this.controls.target.set(root.x, 0.9, root.z);
  }

  get frameCount() {
    return this.motion ? this.motion.joints.length : 0;
  }

  get frame() {
    return this.motion ? Math.floor(this.time * this.motion.fps) % this.frameCount : 0;
  }

  seek(frame) {
    // The middle of the frame, so rounding never lands on its neighbour.
    this.time = (frame + 0.5) / this.motion.fps;
  }

  tick() {
    const delta = Math.min(this.timer.update().getDelta(), 0.1);
    if (this.motion) {
      if (this.playing) this.time += delta;
      this.figure.pose(this.frame);
      this.followRoot(delta);
      this.canvas.dataset.motionFrame = String(this.frame);
      this.canvas.dataset.framesDrawn = String(++this.framesDrawn);
      this.onFrame(this.frame);
    }
    this.controls.update();
    this.renderer.render(this.scene, this.camera);
  }

  followRoot(delta) {
    const root = this.figure.position(this.frame, 0);
    const step = 1 - Math.exp(-FOLLOW_RATE * delta);
    const shift = new Vector3(root.x - this.controls.target.x, 0, root.z - this.controls.target.z).multiplyScalar(step);
    this.controls.target.add(shift);
    this.camera.position.add(shift);
  }

  resize() {
    const { clientWidth: width, clientHeight: height } = this.canvas.parentElement;
    if (!width || !height) return;
    this.renderer.setSize(width, height, false);
    this.camera.aspect = width / height;
    this.camera.updateProjectionMatrix();
  }
}

function buildFigure({ joints, parents, sides }) {
  const frames = joints.length;
  const count = parents.length;
  const flat = new Float32Array(joints.flat(2));
  const position = (frame, joint, into = new Vector3()) => into.fromArray(flat, (frame * count + joint) * 3);
  const materials = Object.fromEntries(
    Object.entries(SIDE_COLOURS).map(([side, colour]) => [side, new MeshStandardMaterial({ color: colour, roughness: 0.6 })]),
  );
  const material = (joint) => materials[sides?.[joint] ?? "centre"] ?? materials.centre;
  const boneGeometry = new CylinderGeometry(BONE_RADIUS, BONE_RADIUS, 1, 12);
  const jointGeometry = new SphereGeometry(JOINT_RADIUS, 16, 12);
  const group = new Group();
  const jointMeshes = parents.map((_, joint) => {
    const mesh = new Mesh(jointGeometry, material(joint));
    group.add(mesh);
    return mesh;
  });
  const bones = parents.flatMap((parent, joint) => {
    if (parent < 0) return [];
    const mesh = new Mesh(boneGeometry, material(joint));
    group.add(mesh);
    return [{ mesh, joint, parent }];
  });
  const start = new Vector3();
  const end = new Vector3();
  const direction = new Vector3();
  const rotation = new Quaternion();
  const pose = (frame) => {
    const index = Math.min(Math.max(frame, 0), frames - 1);
    jointMeshes.forEach((mesh, joint) => position(index, joint, mesh.position));
    for (const { mesh, joint, parent } of bones) {
      position(index, parent, start);
      position(index, joint, end);
      direction.subVectors(end, start);
      const length = direction.length();
      mesh.position.addVectors(start, end).multiplyScalar(0.5);
      mesh.scale.set(1, Math.max(length, 1e-6), 1);
      mesh.quaternion.copy(length > 1e-6 ? rotation.setFromUnitVectors(UP, direction.divideScalar(length)) : rotation.identity());
    }
  };
  return { group, pose, position };
}
